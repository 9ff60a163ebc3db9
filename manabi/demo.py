"""Demo data for the local stack: a programme on chain and sponsors with TestJPYC.

The programme is created by the KMS operator through the relayer, exactly as
in production, so a fresh ``manabi dev`` exercises the signer end to end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from web3 import Web3

    from manabi.deploy import Deployment
    from manabi.localstack import DemoSponsor

MAX_ALLOWANCE = 2**256 - 1


def create_programs_on_chain(w3: Web3, deployment: Deployment, treasury: str) -> list[str]:
    """Create every catalogue programme on chain through the operator; returns tx ids."""
    from chalicelib.chain.contracts import contract
    from chalicelib.chain.operator import operator_sender
    from chalicelib.config import Settings
    from chalicelib.programs import load_catalogue

    settings = Settings.from_env()
    sender = operator_sender(settings)
    rights = contract(w3, "ReskillingRights", deployment.rights)
    tx_ids = []
    for program in load_catalogue().programs:
        data = rights.encode_abi(
            "createProgram",
            args=[program.chain_program_id, program.price_base_units, program.capacity, treasury,
                  program.lending_seconds],
        )
        record = sender.send(purpose=f"create program {program.id}", to=deployment.rights, data=data)
        record = sender.wait(record.tx_id, timeout=settings.receipt_timeout_seconds)
        if record.status != "confirmed":
            raise RuntimeError(f"creating programme {program.id} on chain ended {record.status}: {record.error}")
        tx_ids.append(record.tx_id)
    return tx_ids


DEMO_TALENTS = (
    ("はなこ", "子どもが保育園に通っている間に、Webサイトづくりを学びたいです。"),
    ("ゆうき", "在宅でできる事務の仕事から、エンジニアを目指しています。"),
    ("さくら", "育休明けに、新しい仕事に挑戦したいと思っています。"),
    ("あおい", "データの集計が好きです。市内の会社で働きたいです。"),
)


def create_demo_talents(program_id: str | None = None) -> list[str]:
    """Selected talents waiting for a sponsor, with the profile they agreed to share.

    Written straight to the store (not through the form), so the demo works
    whatever today's date is relative to the application window.
    """
    import datetime as dt
    import secrets

    from chalicelib import aws
    from chalicelib.applications.service import new_receipt_number
    from chalicelib.config import Settings
    from chalicelib.programs import load_catalogue
    from chalicelib.services import application_store
    from chalicelib.talents import TalentIdentities

    settings = Settings.from_env()
    program = load_catalogue().programs[0] if program_id is None else load_catalogue().program(program_id)
    store = application_store(settings)
    identities = TalentIdentities(aws.client("kms"), settings.talent_key_id)
    addresses = []
    for index, (nickname, introduction) in enumerate(DEMO_TALENTS, start=1):
        application_id = "app_" + secrets.token_hex(12)
        store.create({
            "application_id": application_id, "receipt_number": new_receipt_number(), "program_id": program.id,
            "status": "selected", "submitted_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "name": f"デモ 受講生{index}", "name_kana": f"でも じゅこうせい{index}",
            "email": f"demo-talent-{index}@example.jp", "phone": "0743000000", "postal_code": "630-0000",
            "address": "（デモデータ）", "lives_or_works_in_city": True, "children": [{"age": 2 + index}],
            "childcare_requests": [], "work_styles": ["in_city", "telework"], "pc_environment": "own",
            "motivation": introduction, "consent_privacy": True,
            "talent_address": identities.address_for(application_id),
            "talent_profile": {"nickname": nickname, "introduction": introduction, "share": True},
        })
        addresses.append(identities.address_for(application_id))
    return addresses


def load_demo_data(w3: Web3, deployment: Deployment) -> list[DemoSponsor]:
    from eth_account import Account

    from chalicelib.chain.contracts import contract
    from manabi.localstack import DEMO_SPONSOR_COUNT, DEMO_SPONSOR_JPYC, DemoSponsor, demo_sponsor_key

    owner, treasury = w3.eth.accounts[0], w3.eth.accounts[1]
    jpyc = contract(w3, "TestJPYC", deployment.jpyc)
    # The city's treasury lets the distributor pull solidarity contributions.
    _wait(w3, jpyc.functions.approve(deployment.distributor, MAX_ALLOWANCE).transact({"from": treasury}))
    create_programs_on_chain(w3, deployment, treasury)
    create_demo_talents()
    sponsors = []
    for index in range(1, DEMO_SPONSOR_COUNT + 1):
        key = demo_sponsor_key(index)
        address = Account.from_key(key).address
        _wait(w3, jpyc.functions.mint(address, DEMO_SPONSOR_JPYC).transact({"from": owner}))
        # A little gas money, so the demo works in a real wallet too; the relayer pays otherwise.
        _wait(w3, w3.eth.send_transaction({"from": owner, "to": address, "value": 10**18}))
        sponsors.append(DemoSponsor(address=address, private_key=key, jpyc_balance=DEMO_SPONSOR_JPYC))
    return sponsors


def _wait(w3: Web3, tx_hash: object) -> None:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    if receipt["status"] != 1:
        raise RuntimeError("a demo data transaction failed")
