"""Sign-In with Ethereum: a session for the right wallet, 401 with a reason for everything else."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from tests.fixtures.app import sign_in, siwe_message

JSON = {"Content-Type": "application/json"}


def login(api, message, signature):
    response = api.http.post("/auth/login", body=json.dumps({"message": message, "signature": signature}),
                             headers=JSON)
    return response.status_code, json.loads(response.body)


def nonce(api):
    return json.loads(api.http.post("/auth/nonce").body)["nonce"]


def test_a_signed_in_sponsor_gets_a_session_that_opens_the_dashboard(sponsor_api, w3):
    account = Account.create()
    response = sign_in(sponsor_api, account, w3.eth.chain_id)
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["address"] == account.address
    assert set(body) == {"token", "address", "expires_at"}
    me = sponsor_api.http.get("/sponsor/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    overview = json.loads(me.body)
    assert overview["address"] == account.address
    assert overview["tokens"] == [] and overview["payouts"] == []
    assert overview["balances"]["jpyc_base_units"] == "0"


def test_a_hand_written_eip4361_message_is_accepted(sponsor_api, w3):
    # The exact text another client library (e.g. the JavaScript one) produces.
    account = Account.create()
    message = (
        "127.0.0.1:8000 wants you to sign in with your Ethereum account:\n"
        f"{account.address}\n\nSign in to Manabi Relay.\n\n"
        "URI: http://127.0.0.1:8000/sponsors/\nVersion: 1\n"
        f"Chain ID: {w3.eth.chain_id}\nNonce: {nonce(sponsor_api)}\n"
        "Issued At: 2026-01-01T00:00:00.000Z\nExpiration Time: 2099-01-01T00:00:00.000Z"
    )
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    status, body = login(sponsor_api, message, signature)
    assert status == 200, body
    assert body["address"] == account.address


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"domain": "evil.example"}, "wrong_domain"),
        ({"expires_in": -60, "issued_ago": 600}, "expired_message"),
    ],
)
def test_messages_for_another_site_or_past_their_time_are_401(sponsor_api, w3, options, code):
    response = sign_in(sponsor_api, Account.create(), w3.eth.chain_id, **options)
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == code


def test_a_message_for_another_chain_is_401(sponsor_api, w3):
    response = sign_in(sponsor_api, Account.create(), w3.eth.chain_id + 1)
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == "wrong_chain"


def test_a_replayed_nonce_is_401(sponsor_api, w3):
    account = Account.create()
    message = siwe_message(account.address, nonce(sponsor_api), chain_id=w3.eth.chain_id)
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    assert login(sponsor_api, message, signature)[0] == 200
    status, body = login(sponsor_api, message, signature)
    assert status == 401
    assert body["error"]["code"] == "invalid_nonce"


def test_a_nonce_the_api_never_issued_is_401(sponsor_api, w3):
    account = Account.create()
    message = siwe_message(account.address, "madeUpNonce12345", chain_id=w3.eth.chain_id)
    signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    assert login(sponsor_api, message, signature) == (401, {"error": {
        "code": "invalid_nonce", "message": "the nonce is unknown, used or expired"}})


def test_a_signature_by_another_address_is_401(sponsor_api, w3):
    claimed, signer = Account.create(), Account.create()
    message = siwe_message(claimed.address, nonce(sponsor_api), chain_id=w3.eth.chain_id)
    signature = signer.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    status, body = login(sponsor_api, message, signature)
    assert status == 401
    assert body["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize("message", ["hello", "", "x" * 5000, 42, None])
def test_malformed_messages_are_401(sponsor_api, message):
    status, body = login(sponsor_api, message, "0x" + "00" * 65)
    assert status == 401
    assert body["error"]["code"] == "malformed_message"


def test_routes_need_a_valid_session_and_sign_out_ends_it(sponsor_api, w3):
    assert sponsor_api.http.get("/sponsor/me").status_code == 401
    assert sponsor_api.http.get("/sponsor/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    token = json.loads(sign_in(sponsor_api, Account.create(), w3.eth.chain_id).body)["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert sponsor_api.http.get("/sponsor/me", headers=auth).status_code == 200
    assert sponsor_api.http.post("/auth/logout", headers=auth).status_code == 200
    response = sponsor_api.http.get("/sponsor/me", headers=auth)
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == "session_expired"
