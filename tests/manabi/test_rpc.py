"""The embedded chain over JSON-RPC: what wallets and a second stack (``--rpc-url``) talk to."""

from __future__ import annotations

import json
import urllib.request

from eth_account import Account
from web3 import HTTPProvider, Web3

from chalicelib.chain.contracts import contract
from manabi.localstack import LocalStack, demo_sponsor_key
from manabi.rpc import encode
from tests.support import ManabiDev


def test_results_are_encoded_as_a_node_sends_them():
    assert encode({"number": 16, "logsBloom": 0, "hash": "0xab", "ok": True, "data": b"\x01"}) == {
        "number": "0x10", "logsBloom": "0x" + "00" * 256, "hash": "0xab", "ok": True, "data": "0x01"}


def test_a_web3_client_uses_the_embedded_chain_over_http(stack: LocalStack) -> None:
    assert stack.info is not None
    remote = Web3(HTTPProvider(stack.info.url + "/rpc"))
    assert remote.eth.chain_id == stack.info.chain_id
    assert remote.eth.get_balance(stack.info.operator) > 0
    rights = contract(remote, "ReskillingRights", stack.info.deployment["rights"])
    assert rights.functions.program(1).call()[-1] is True  # the demo programme exists
    # A demo sponsor sends JPYC with a locally signed transaction, as a wallet would.
    sponsor = Account.from_key(demo_sponsor_key(1))
    jpyc = contract(remote, "TestJPYC", stack.info.deployment["jpyc"])
    tx = jpyc.functions.transfer(Account.create().address, 10**18).build_transaction({
        "from": sponsor.address, "nonce": remote.eth.get_transaction_count(sponsor.address)})
    receipt = remote.eth.wait_for_transaction_receipt(
        remote.eth.send_raw_transaction(sponsor.sign_transaction(tx).raw_transaction))
    assert receipt["status"] == 1
    assert jpyc.functions.balanceOf(sponsor.address).call() == 999_999 * 10**18
    chain = json.loads(urllib.request.urlopen(stack.info.api_url + "/chain").read())
    assert chain["rpc_urls"] == [stack.info.url + "/rpc"]


def test_a_second_stack_runs_on_this_chain_with_rpc_url(stack: LocalStack) -> None:
    assert stack.info is not None
    second = ManabiDev("--rpc-url", stack.info.url + "/rpc", "--no-demo-data")
    try:
        health = json.loads(urllib.request.urlopen(f"{second.url}/api/health").read())
        assert health["chain_id"] == stack.info.chain_id
        assert health["operator"]["address"] != stack.info.operator  # its own KMS key
        assert health["contracts"]["rights"] != stack.info.deployment["rights"]  # its own deployment
        remote = Web3(HTTPProvider(stack.info.url + "/rpc"))
        assert remote.eth.get_code(health["contracts"]["rights"]) != b""
    finally:
        code, output = second.stop()
    assert code == 0, second.banner + output
