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


def load_demo_data(w3: Web3, deployment: Deployment) -> list[DemoSponsor]:
    from eth_account import Account

    from chalicelib.chain.contracts import contract
    from manabi.localstack import DEMO_SPONSOR_COUNT, DEMO_SPONSOR_JPYC, DemoSponsor, demo_sponsor_key

    owner, treasury = w3.eth.accounts[0], w3.eth.accounts[1]
    jpyc = contract(w3, "TestJPYC", deployment.jpyc)
    # The city's treasury lets the distributor pull solidarity contributions.
    _wait(w3, jpyc.functions.approve(deployment.distributor, MAX_ALLOWANCE).transact({"from": treasury}))
    create_programs_on_chain(w3, deployment, treasury)
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
