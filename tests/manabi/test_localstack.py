"""Full flow: the local stack as a citizen, a sponsor's wallet and the city would meet it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from manabi.localstack import LocalStack, free_port
from tests.support import ManabiDev

pytestmark = pytest.mark.fullflow


def _get(url: str) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def test_a_kms_signed_transaction_through_the_running_stack(stack: LocalStack) -> None:
    from chalicelib.chain.contracts import contract
    from chalicelib.chain.operator import operator_sender
    from chalicelib.config import Settings

    assert stack.info is not None
    sender = operator_sender(Settings.from_env())
    anchor = contract(sender.w3, "LearningRecordAnchor", stack.info.deployment["anchor"])
    root = b"\x5a" * 32
    record = sender.send(purpose="anchor", to=anchor.address,
                         data=anchor.encode_abi("anchor", args=[root, 36, "records/2027-spring.json"]))

    status, body, _ = _get(f"{stack.info.api_url}/transactions/{record.tx_id}")
    assert status == 200
    result = json.loads(body)
    assert result["status"] == "confirmed"
    receipt = sender.w3.eth.get_transaction_receipt(result["tx_hash"])
    assert receipt["from"] == stack.info.operator
    assert anchor.functions.anchoredAt(root).call() > 0


def test_the_scheduler_finishes_what_a_crash_left(stack: LocalStack) -> None:
    from chalicelib import aws
    from chalicelib.chain.contracts import contract
    from chalicelib.chain.operator import operator_sender
    from chalicelib.chain.transactions import TransactionStore, TxIntent
    from chalicelib.config import Settings

    assert stack.info is not None
    settings = Settings.from_env()
    sender = operator_sender(settings)
    anchor = contract(sender.w3, "LearningRecordAnchor", stack.info.deployment["anchor"])
    data = anchor.encode_abi("anchor", args=[b"\x6b" * 32, 1, "x"])
    store = TransactionStore(settings, aws.client("dynamodb"))
    record = store.record_intent(
        sender.address,
        TxIntent(purpose="anchor", to=anchor.address, data=data, gas=sender.estimate_gas(to=anchor.address, data=data)),
        chain_id=sender.chain_id, chain_nonce=sender.w3.eth.get_transaction_count(sender.address),
    )
    deadline = time.monotonic() + 15
    while store.get(record.tx_id).status != "confirmed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.get(record.tx_id).status == "confirmed"


def test_manabi_dev_serves_site_and_api_and_stops_on_ctrl_c() -> None:
    stack = ManabiDev()
    try:
        base, banner = stack.url, stack.banner
        assert f"site         {base}/" in banner
        assert "LOCAL DEMO ONLY" in banner

        status, page, headers = _get(base + "/")
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
        assert "まなびリレー" in page.decode("utf-8")

        status, body, _ = _get(base + "/api/health")
        assert status == 200
        health = json.loads(body)
        assert health["operator"]["address"] in banner
        assert set(health["contracts"]) == {"jpyc", "rights", "distributor", "anchor"}
        assert all(address in banner for address in health["contracts"].values())

        # The demo programme was created on chain by the KMS operator at start-up.
        programs = json.loads(_get(base + "/api/programs")[1])["programs"]
        status, body, _ = _get(f"{base}/api/programs/{programs[0]['id']}/rights")
        assert status == 200
        assert json.loads(body)["supply_cap"] == programs[0]["capacity"]
    finally:
        code, rest = stack.stop()
    assert code == 0, stack.banner + rest
    assert "Stopped." in rest
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{stack.url}/", timeout=2)


def test_no_demo_data_starts_an_empty_but_working_stack(restore_environ: None) -> None:
    local = LocalStack(port=free_port(), build_site=False, demo_data=False)
    info = local.start()
    try:
        assert info.demo_sponsors == []
        status, body, _ = _get(f"{info.api_url}/health")
        assert status == 200 and json.loads(body)["operator"]["address"] == info.operator
        programs = json.loads(_get(info.api_url + "/programs")[1])["programs"]
        status, body, _ = _get(f"{info.api_url}/programs/{programs[0]['id']}/rights")
        assert (status, json.loads(body)["error"]["code"]) == (404, "program_not_on_chain")
        talents = json.loads(_get(f"{info.api_url}/talents?program_id={programs[0]['id']}")[1])["talents"]
        assert talents == []
    finally:
        local.stop()
