"""Buying rights with a JPYC permit and lending them to a talent, through the API and the KMS relayer."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from chalicelib import services
from chalicelib.chain.contracts import contract
from chalicelib.programs import cached_catalogue
from tests.factories import application_body
from tests.fixtures.app import fund_jpyc, sign_in

JSON = {"Content-Type": "application/json"}
PROGRAM_ID = "it-basics-2027-spring"
JPYC = 10**18


class Sponsor:
    """A wallet signed in to the API."""

    def __init__(self, api, w3, account=None):
        self.api, self.account = api, account or Account.create()
        token = json.loads(sign_in(api, self.account, w3.eth.chain_id).body)["token"]
        self.auth = {"Authorization": f"Bearer {token}", **JSON}

    @property
    def address(self) -> str:
        return self.account.address

    def post(self, path, body, headers=None):
        response = self.api.http.post(path, body=json.dumps(body), headers={**self.auth, **(headers or {})})
        return response.status_code, json.loads(response.body)

    def sign(self, typed_data) -> str:
        return self.account.sign_message(encode_typed_data(full_message=typed_data)).signature.to_0x_hex()

    def buy(self, quantity=1, headers=None):
        status, quote = self.post("/purchases/quote", {"program_id": PROGRAM_ID, "quantity": quantity})
        assert status == 200, quote
        return self.post("/purchases", {"program_id": PROGRAM_ID, "quantity": quantity,
                                        "deadline": quote["deadline"], "signature": self.sign(quote["typed_data"])},
                         headers)

    def lend_quote(self, token_id, talent_id):
        return self.post("/lendings/quote", {"token_id": token_id, "talent_id": talent_id})

    def lend(self, token_id, talent_id):
        status, quote = self.lend_quote(token_id, talent_id)
        assert status == 200, quote
        return self.post("/lendings", {"token_id": token_id, "talent_id": talent_id, "expires": quote["expires"],
                                       "deadline": quote["deadline"], "signature": self.sign(quote["typed_data"])})

    def me(self):
        return json.loads(self.api.http.get("/sponsor/me", headers=self.auth).body)


def tx_status(api, tx_id):
    return json.loads(api.http.get(f"/transactions/{tx_id}").body)


@pytest.fixture
def sponsor(sponsor_api, w3, operator_deployment):
    buyer = Sponsor(sponsor_api, w3)
    fund_jpyc(w3, operator_deployment, buyer.address, 200_000 * JPYC)
    return buyer


@pytest.fixture
def talent(settings):
    """A selected talent who agreed to be listed for sponsors."""
    service = services.applications(settings)
    from chalicelib.applications.form import parse_application

    body = application_body()
    application_id = service.submit(parse_application(body, service.program_for(body)))["application_id"]
    store = services.application_store(settings)
    store.update_status(application_id, expected=("received",), status="selected",
                        fields={"talent_address": Account.create().address})
    store.set_fields(application_id, {"talent_profile": {"nickname": "はなこ", "introduction": "Webデザインを学びたいです",
                                                          "share": True}})
    return store.get(application_id)


def test_buying_a_right_moves_the_exact_price_and_mints_the_token(sponsor, sponsor_api, w3, operator_deployment):
    price = cached_catalogue().program(PROGRAM_ID).price_base_units
    jpyc = contract(w3, "TestJPYC", operator_deployment.jpyc)
    treasury_before = jpyc.functions.balanceOf(w3.eth.accounts[1]).call()
    status, body = sponsor.buy()
    assert status == 202
    assert tx_status(sponsor_api, body["tx_id"])["status"] == "confirmed"
    assert jpyc.functions.balanceOf(sponsor.address).call() == 200_000 * JPYC - price
    assert jpyc.functions.balanceOf(w3.eth.accounts[1]).call() == treasury_before + price
    [token] = sponsor.me()["tokens"]
    assert token == {"token_id": 1, "chain_program_id": 1, "status": "unused", "user": None, "lent_until": None}


def test_buying_several_rights_at_once(sponsor):
    status, body = sponsor.buy(quantity=3)
    assert status == 202
    assert [t["token_id"] for t in sponsor.me()["tokens"]] == [1, 2, 3]


def test_the_quote_is_a_permit_for_the_real_jpyc_domain(sponsor, w3, operator_deployment):
    status, quote = sponsor.post("/purchases/quote", {"program_id": PROGRAM_ID, "quantity": 2})
    assert status == 200
    typed = quote["typed_data"]
    assert typed["primaryType"] == "Permit"
    assert typed["domain"] == {"name": "JPY Coin", "version": "1", "chainId": w3.eth.chain_id,
                               "verifyingContract": operator_deployment.jpyc}
    assert typed["message"]["spender"] == operator_deployment.rights
    assert typed["message"]["value"] == str(2 * cached_catalogue().program(PROGRAM_ID).price_base_units)


def test_a_double_click_sends_one_purchase(sponsor, sponsor_api, tx_store, operator_sender):
    status, quote = sponsor.post("/purchases/quote", {"program_id": PROGRAM_ID, "quantity": 1})
    body = {"program_id": PROGRAM_ID, "quantity": 1, "deadline": quote["deadline"],
            "signature": sponsor.sign(quote["typed_data"])}
    first = sponsor.post("/purchases", body, {"Idempotency-Key": "buy-click-000001"})
    second = sponsor.post("/purchases", body, {"Idempotency-Key": "buy-click-000001"})
    assert first == second
    assert first[0] == 202
    assert len(sponsor.me()["tokens"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"program_id": PROGRAM_ID, "quantity": 0}, 422, "invalid_input"),
        ({"program_id": PROGRAM_ID, "quantity": 11}, 422, "invalid_input"),
        ({"program_id": "no-such-course", "quantity": 1}, 404, "program_not_found"),
        ({"program_id": PROGRAM_ID, "quantity": 31}, 422, "invalid_input"),
    ],
)
def test_bad_purchase_requests_are_refused(sponsor, body, status, code):
    got_status, got = sponsor.post("/purchases/quote", body)
    assert (got_status, got["error"]["code"]) == (status, code)


def test_a_purchase_signed_by_another_wallet_is_refused_before_sending(sponsor, tx_store, operator_sender):
    status, quote = sponsor.post("/purchases/quote", {"program_id": PROGRAM_ID, "quantity": 1})
    forged = Account.create().sign_message(encode_typed_data(full_message=quote["typed_data"])).signature.to_0x_hex()
    before = tx_store.next_nonce(operator_sender.address)
    status, body = sponsor.post("/purchases", {"program_id": PROGRAM_ID, "quantity": 1,
                                               "deadline": quote["deadline"], "signature": forged})
    assert (status, body["error"]["code"]) == (409, "signer_mismatch")
    assert tx_store.next_nonce(operator_sender.address) == before


def test_a_sponsor_without_enough_jpyc_is_told_so(sponsor_api, w3):
    poor = Sponsor(sponsor_api, w3)
    status, body = poor.post("/purchases/quote", {"program_id": PROGRAM_ID, "quantity": 1})
    assert (status, body["error"]["code"]) == (409, "insufficient_balance")


def test_lending_to_a_waiting_talent(sponsor, sponsor_api, talent, w3, operator_deployment):
    assert sponsor.buy()[0] == 202
    listed = json.loads(sponsor_api.http.get(f"/talents?program_id={PROGRAM_ID}").body)["talents"]
    assert listed == [{"talent_id": talent["talent_address"], "nickname": "はなこ",
                       "introduction": "Webデザインを学びたいです", "program_id": PROGRAM_ID,
                       "cohort": cached_catalogue().program(PROGRAM_ID).title}]
    shown = json.dumps(listed, ensure_ascii=False)
    assert all(talent[field] not in shown for field in ("name", "email", "phone", "address", "postal_code"))

    status, body = sponsor.lend(1, talent["talent_address"])
    assert status == 202, body
    assert tx_status(sponsor_api, body["tx_id"])["status"] == "confirmed"
    rights = contract(w3, "ReskillingRights", operator_deployment.rights)
    assert rights.functions.userOf(1).call() == talent["talent_address"]
    [token] = sponsor.me()["tokens"]
    assert token["status"] == "lent" and token["user"] == talent["talent_address"]
    assert json.loads(sponsor_api.http.get(f"/talents?program_id={PROGRAM_ID}").body)["talents"] == []


def test_lending_refusals_happen_before_any_transaction(sponsor, sponsor_api, talent, w3, tx_store,
                                                        operator_sender, settings):
    assert sponsor.buy(quantity=2)[0] == 202
    assert sponsor.lend(1, talent["talent_address"])[0] == 202
    nonce_before = tx_store.next_nonce(operator_sender.address)

    # The token is lent now: a replay of the same lending is refused.
    status, body = sponsor.lend_quote(1, talent["talent_address"])
    assert (status, body["error"]["code"]) == (409, "token_lent")
    # The talent has a sponsor already.
    status, body = sponsor.lend_quote(2, talent["talent_address"])
    assert (status, body["error"]["code"]) == (409, "talent_has_sponsor")
    # A wallet that does not own the token.
    other = Sponsor(sponsor_api, w3)
    status, body = other.lend_quote(2, talent["talent_address"])
    assert (status, body["error"]["code"]) == (409, "not_token_owner")
    # An unknown talent.
    status, body = sponsor.lend_quote(2, Account.create().address)
    assert (status, body["error"]["code"]) == (404, "talent_not_found")
    assert tx_store.next_nonce(operator_sender.address) == nonce_before


def test_an_expired_lend_signature_is_refused(sponsor, talent, tx_store, operator_sender):
    assert sponsor.buy()[0] == 202
    status, quote = sponsor.lend_quote(1, talent["talent_address"])
    before = tx_store.next_nonce(operator_sender.address)
    status, body = sponsor.post("/lendings", {"token_id": 1, "talent_id": talent["talent_address"],
                                              "expires": quote["expires"], "deadline": 1,
                                              "signature": sponsor.sign(quote["typed_data"])})
    assert (status, body["error"]["code"]) == (422, "invalid_deadline")
    assert tx_store.next_nonce(operator_sender.address) == before


def test_a_consumed_token_cannot_be_lent_again(sponsor, sponsor_api, talent, settings, w3, operator_deployment,
                                               operator_sender):
    assert sponsor.buy()[0] == 202
    assert sponsor.lend(1, talent["talent_address"])[0] == 202
    rights = contract(w3, "ReskillingRights", operator_deployment.rights)
    done = operator_sender.send(purpose="complete", to=rights.address, data=rights.encode_abi("recordCompletion", [1]))
    assert operator_sender.wait(done.tx_id).status == "confirmed"
    store = services.application_store(settings)
    store.set_fields(talent["application_id"], {"lending": {}})  # even if the talent were free again
    status, body = sponsor.lend_quote(1, talent["talent_address"])
    assert (status, body["error"]["code"]) == (409, "token_consumed")


def test_a_lend_signed_by_someone_else_is_refused(sponsor, talent, tx_store, operator_sender):
    assert sponsor.buy()[0] == 202
    status, quote = sponsor.lend_quote(1, talent["talent_address"])
    forged = Account.create().sign_message(encode_typed_data(full_message=quote["typed_data"])).signature.to_0x_hex()
    before = tx_store.next_nonce(operator_sender.address)
    status, body = sponsor.post("/lendings", {"token_id": 1, "talent_id": talent["talent_address"],
                                              "expires": quote["expires"], "deadline": quote["deadline"],
                                              "signature": forged})
    assert (status, body["error"]["code"]) == (409, "signer_mismatch")
    assert tx_store.next_nonce(operator_sender.address) == before


@pytest.fixture
def second_program(catalogue_file):
    """A second programme in the catalogue (created on chain with the first)."""
    data = json.loads(catalogue_file.read_text(encoding="utf-8"))
    other = dict(data["programs"][0], id="it-basics-2027-autumn", chain_program_id=2, title="秋の講座")
    data["programs"].append(other)
    catalogue_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    from chalicelib.programs import _cached

    _cached.cache_clear()
    return other["id"]


def test_a_right_is_lent_only_to_a_talent_of_its_programme(second_program, sponsor_api, sponsor, settings):
    assert sponsor.buy()[0] == 202  # a right of the first programme
    service = services.applications(settings)
    from chalicelib.applications.form import parse_application

    body = application_body(program_id=second_program)
    application_id = service.submit(parse_application(body, service.program_for(body)))["application_id"]
    store = services.application_store(settings)
    store.update_status(application_id, expected=("received",), status="selected",
                        fields={"talent_address": Account.create().address})
    status, body = sponsor.lend_quote(1, store.get(application_id)["talent_address"])
    assert (status, body["error"]["code"]) == (409, "talent_in_other_program")
