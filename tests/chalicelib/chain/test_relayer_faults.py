"""The relayer under fault injection: crashes, RPC and KMS failures, stuck transactions, gaps, races.

Every test ends by checking the ledger against the chain (:func:`assert_ledger_matches_chain`):
each intended anchor landed exactly once, the signer's on-chain nonce equals the number
of records that consumed a nonce, those nonces have no gaps, and nothing is left open.

A dying Lambda is modelled by :class:`LambdaDied`, a ``BaseException`` raised from a
wrapped method, so no ``except Exception`` in the relayer can swallow it; the survivor
is a fresh :class:`TransactionSender` (fresh store, as a new container would build).
Time is a :class:`FakeClock`; backoff sleeps are recorded, never slept.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests
from botocore.awsrequest import AWSResponse
from web3.exceptions import TimeExhausted, Web3RPCError

from chalicelib.chain.contracts import contract
from chalicelib.chain.sender import GAP_FILLER_PURPOSE, NONCE_CONSUMED_ELSEWHERE, TransactionSender
from chalicelib.chain.transactions import TransactionStore, TxIntent, TxRecord
from chalicelib.config import GWEI, FeePolicy, Settings
from chalicelib.errors import ChainError, SignerError

STUCK_AFTER = 25


class LambdaDied(BaseException):
    """The invocation ended here (timeout, out of memory, container recycled)."""


class FakeClock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_sender(
    w3: Any, kms_signer: Any, settings: Settings, dynamodb_client: Any, operator_sender: TransactionSender,
    clock: FakeClock, sleeps: list[float],
) -> Callable[..., TransactionSender]:
    """Build a sender for the (funded) KMS operator, with a fresh store, the fake clock and recorded sleeps."""

    def build(*, signer: Any = kms_signer, fees: FeePolicy | None = None, client: Any = None,
              **options: Any) -> TransactionSender:
        options.setdefault("clock", clock)
        options.setdefault("sleep", sleeps.append)
        store = TransactionStore(settings, client or dynamodb_client, clock=options["clock"])
        return TransactionSender(w3, signer, store, fees=fees or settings.fees, **options)

    return build


def anchor_data(w3: Any, deployment: Any, root: bytes) -> str:
    return contract(w3, "LearningRecordAnchor", deployment.anchor).encode_abi(
        "anchor", args=[root, 1, "s3://records/fault-test.json"]
    )


def send_anchor(sender: TransactionSender, deployment: Any, root: bytes) -> TxRecord:
    return sender.send(purpose="anchor", to=deployment.anchor, data=anchor_data(sender.w3, deployment, root))


def root(i: int) -> bytes:
    return (i + 1).to_bytes(2, "big") * 16


def anchored_roots(w3: Any, deployment: Any) -> Counter[bytes]:
    anchor = contract(w3, "LearningRecordAnchor", deployment.anchor)
    return Counter(bytes(log["args"]["root"]) for log in anchor.events.RecordsAnchored().get_logs(from_block=0))


def all_records(settings: Settings, signer: str) -> list[TxRecord]:
    """Every record of ``signer`` (a table scan: test-only)."""
    client = boto3.client("dynamodb")
    store = TransactionStore(settings, client)
    pages = client.get_paginator("scan").paginate(TableName=f"{settings.table_prefix}transactions")
    return [store.get(item["tx_id"]["S"]) for page in pages for item in page["Items"]
            if item["signer"]["S"] == signer]


def assert_ledger_matches_chain(
    w3: Any, deployment: Any, settings: Settings, signer: str, roots: list[bytes], *, foreign_nonces: int = 0
) -> list[TxRecord]:
    """Each root anchored exactly once; chain nonce = records that used a nonce (+ foreign txs); no gaps."""
    records = all_records(settings, signer)
    assert [r.tx_id for r in records if r.is_open] == []
    assert anchored_roots(w3, deployment) == Counter({r: 1 for r in roots})
    mined = [r for r in records if r.block_number is not None]
    for record in mined:
        receipt = w3.eth.get_transaction_receipt(record.tx_hash)
        assert receipt["from"] == signer and receipt["blockNumber"] == record.block_number
        assert w3.eth.get_transaction(record.tx_hash)["nonce"] == record.nonce
    chain_nonce = w3.eth.get_transaction_count(signer)
    assert chain_nonce == len(mined) + foreign_nonces
    assert len({r.nonce for r in mined}) == len(mined)
    assert max((r.nonce for r in mined), default=-1) < chain_nonce  # with the count above: no gaps
    assert all(r.status == "confirmed" for r in mined)
    return records


def fail_rpc(
    monkeypatch: pytest.MonkeyPatch,
    w3: Any,
    methods: set[str],
    times: int,
    error: Callable[[], Exception],
    *,
    after_the_node_acted: bool = False,
) -> list[str]:
    """Make the provider's next ``times`` requests for ``methods`` raise ``error()``.

    With ``after_the_node_acted`` the request reaches the node first (the answer is what
    gets lost, as with a read timeout). Returns the log of failed methods.
    """
    provider = w3.provider
    real = provider.make_request
    failed: list[str] = []

    def make_request(method: str, params: Any) -> Any:
        if method in methods and len(failed) < times:
            failed.append(method)
            if after_the_node_acted:
                real(method, params)
            raise error()
        return real(method, params)

    monkeypatch.setattr(provider, "make_request", make_request)
    monkeypatch.setattr(provider, "_request_func_cache", (None, None))  # web3 caches the bound method
    return failed


def throttle_kms_sign(kms_client: Any, times: int) -> list[int]:
    """Answer the next ``times`` KMS Sign calls with ThrottlingException (botocore hook)."""
    thrown: list[int] = []

    def inject(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if len(thrown) >= times:
            return None
        thrown.append(1)
        return AWSResponse("https://kms.ap-northeast-1.amazonaws.com/", 400, {}, None), {
            "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    kms_client.meta.events.register("before-call.kms.Sign", inject)
    return thrown


def count_kms_sign(kms_client: Any) -> Counter[str]:
    """Count KMS Sign requests as botocore issues them, injected failures included."""
    calls: Counter[str] = Counter()
    kms_client.meta.events.register_first("before-call.kms.Sign", lambda model, **_: calls.update([model.name]))
    return calls


def die_on(obj: Any, name: str, monkeypatch: pytest.MonkeyPatch, *, call: int = 1,
           after: bool = False) -> None:
    """Make the ``call``-th call of ``obj.name`` end the invocation (before it runs, or ``after``)."""
    real = getattr(obj, name)
    calls = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] != call:
            return real(*args, **kwargs)
        if after:
            real(*args, **kwargs)
        raise LambdaDied(name)

    monkeypatch.setattr(obj, name, dying)


@pytest.fixture
def tester(w3: Any) -> Any:
    return w3.provider.ethereum_tester


# -- a Lambda dies between two steps ---------------------------------------------------------


@pytest.mark.parametrize(
    "kill_point",
    [
        "after recording, before signing",
        "after KMS signed, before the bytes were stored",
        "after the bytes were stored, before broadcast",
        "after broadcast, before 'submitted' was stored",
        "after 'submitted' was stored, before the receipt",
    ],
)
def test_a_lambda_dying_anywhere_in_send_is_finished_once_by_the_tick(
    kill_point, w3, operator_deployment, make_sender, settings, monkeypatch
):
    dying = make_sender()
    with monkeypatch.context() as m:
        if kill_point == "after recording, before signing":
            die_on(dying._signer, "sign_transaction", m)
        elif kill_point == "after KMS signed, before the bytes were stored":
            die_on(dying._store, "save", m, call=1)
        elif kill_point == "after the bytes were stored, before broadcast":
            die_on(w3.eth, "send_raw_transaction", m)
        elif kill_point == "after broadcast, before 'submitted' was stored":
            die_on(dying._store, "save", m, call=2)
        else:
            die_on(dying._store, "save", m, call=2, after=True)
        with pytest.raises(LambdaDied):
            send_anchor(dying, operator_deployment, root(1))
    [left] = dying._store.open_transactions(dying.address)

    report = make_sender().tick()

    assert report.confirmed == [left.tx_id]
    final = assert_ledger_matches_chain(w3, operator_deployment, settings, dying.address, [root(1)])
    assert [r.nonce for r in final] == [0]
    if left.raw_tx is not None:  # stored bytes are the ones that went out, never re-signed
        assert final[0].tx_hash == left.tx_hash and final[0].tx_hashes == left.tx_hashes


def test_a_lambda_dying_between_sends_leaves_later_nonces_to_the_tick(
    w3, operator_deployment, make_sender, settings, monkeypatch
):
    sender = make_sender()
    first = send_anchor(sender, operator_deployment, root(1))
    with monkeypatch.context() as m:
        die_on(sender._signer, "sign_transaction", m)
        with pytest.raises(LambdaDied):
            send_anchor(sender, operator_deployment, root(2))
    third = send_anchor(sender, operator_deployment, root(3))
    assert third.status == "signed" and third.error == "waiting_for_earlier_nonce"  # py-evm: no mempool

    report = make_sender().tick()

    assert len(report.confirmed) == 3 and first.tx_id in report.confirmed
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1), root(2), root(3)])


# -- RPC failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        lambda: requests.exceptions.Timeout("read timed out"),
        lambda: requests.exceptions.ConnectionError("connection reset"),
        lambda: requests.exceptions.HTTPError("503 Service Unavailable",
                                              response=_http_response(503)),
        lambda: Web3RPCError("{'code': -32005, 'message': 'limit exceeded'}"),
        lambda: TimeExhausted("no answer"),
    ],
    ids=["timeout", "connection", "http-503", "rpc-limit", "time-exhausted"],
)
def test_transient_rpc_failures_are_retried_with_bounded_backoff(
    error, w3, operator_deployment, make_sender, settings, monkeypatch, sleeps
):
    sender = make_sender(rpc_attempts=4, rpc_base_delay=0.1, rpc_max_delay=0.3)
    failed = fail_rpc(monkeypatch, w3, {"eth_estimateGas", "eth_getTransactionCount", "eth_sendRawTransaction",
                                        "eth_getBlockByNumber"}, times=3, error=error)

    record = send_anchor(sender, operator_deployment, root(1))

    assert len(failed) == 3 and len(sleeps) == 3
    assert all(0 <= delay <= 0.3 for delay in sleeps)
    assert record.status == "submitted"
    assert sender.wait(record.tx_id).status == "confirmed"
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


def test_a_timeout_after_the_node_took_the_transaction_is_not_sent_twice(
    w3, operator_deployment, make_sender, settings, monkeypatch
):
    sender = make_sender()
    failed = fail_rpc(monkeypatch, w3, {"eth_sendRawTransaction"}, times=1,
                      error=lambda: requests.exceptions.ReadTimeout("read timed out"), after_the_node_acted=True)

    record = send_anchor(sender, operator_deployment, root(1))

    assert failed == ["eth_sendRawTransaction"]
    assert record.status == "submitted"  # the retry heard "nonce too low": already sent
    assert sender.wait(record.tx_id).status == "confirmed"
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


def test_an_rpc_outage_longer_than_the_retries_leaves_the_record_for_the_tick(
    w3, operator_deployment, make_sender, settings, monkeypatch, sleeps
):
    sender = make_sender(rpc_attempts=3)
    with monkeypatch.context() as m:
        fail_rpc(m, w3, {"eth_sendRawTransaction"}, times=100, error=lambda: requests.exceptions.Timeout("down"))
        record = send_anchor(sender, operator_deployment, root(1))
        assert (record.status, record.error) == ("signed", "rpc_unavailable")
        assert len(sleeps) == 2
        # A tick during the outage keeps it, and reports it as waiting.
        assert make_sender(rpc_attempts=3).tick().waiting == [record.tx_id]
    assert w3.eth.get_transaction_count(sender.address) == 0

    report = make_sender().tick()

    assert report.confirmed == [record.tx_id]
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


def test_an_rpc_outage_before_recording_records_nothing(w3, operator_deployment, make_sender, settings, monkeypatch):
    sender = make_sender(rpc_attempts=2)
    fail_rpc(monkeypatch, w3, {"eth_getTransactionCount"}, times=100, error=lambda: requests.exceptions.Timeout("x"))
    with pytest.raises(ChainError) as caught:
        send_anchor(sender, operator_deployment, root(1))
    assert caught.value.code == "rpc_unavailable"
    assert all_records(settings, sender.address) == []


def test_rpc_timeouts_during_the_tick_are_retried(w3, operator_deployment, make_sender, settings, monkeypatch,
                                                   tx_store):
    sender = make_sender()
    data = anchor_data(w3, operator_deployment, root(1))
    record = tx_store.record_intent(
        sender.address, TxIntent(purpose="anchor", to=operator_deployment.anchor, data=data,
                                 gas=sender.estimate_gas(to=operator_deployment.anchor, data=data)),
        chain_id=sender.chain_id, chain_nonce=0,
    )
    fail_rpc(monkeypatch, w3, {"eth_getTransactionCount", "eth_getTransactionReceipt", "eth_sendRawTransaction"},
             times=3, error=lambda: requests.exceptions.Timeout("slow node"))

    assert sender.tick().confirmed == [record.tx_id]
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


# -- KMS throttling --------------------------------------------------------------------------


def test_kms_throttling_is_retried_with_one_signature_per_transaction(
    w3, operator_deployment, make_sender, settings, kms_client
):
    sender = make_sender()
    calls = count_kms_sign(kms_client)
    thrown = throttle_kms_sign(kms_client, times=3)

    record = send_anchor(sender, operator_deployment, root(1))

    assert len(thrown) == 3 and calls["Sign"] == 4  # three throttled, one signature
    assert sender.wait(record.tx_id).status == "confirmed"
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


def test_kms_throttling_beyond_the_signers_retries_leaves_the_record_queued(
    w3, operator_deployment, make_sender, settings, kms_client
):
    sender = make_sender()
    thrown = throttle_kms_sign(kms_client, times=6)  # KmsSigner's default max_attempts

    record = send_anchor(sender, operator_deployment, root(1))

    assert len(thrown) == 6
    assert (record.status, record.error) == ("queued", "kms_throttled")
    assert make_sender().tick().confirmed == [record.tx_id]
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


def test_a_permanent_kms_refusal_raises_with_the_tx_id_and_keeps_the_record(
    w3, operator_deployment, make_sender, settings, kms_client
):
    sender = make_sender()

    def deny(**_: Any) -> Any:
        return AWSResponse("https://kms.ap-northeast-1.amazonaws.com/", 400, {}, None), {
            "Error": {"Code": "AccessDeniedException", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    kms_client.meta.events.register("before-call.kms.Sign", deny)
    with pytest.raises(SignerError) as caught:
        send_anchor(sender, operator_deployment, root(1))
    assert caught.value.code == "kms_access_denied"
    record = sender._store.get(caught.value.details["tx_id"])
    assert (record.status, record.error) == ("queued", "kms_access_denied")
    kms_client.meta.events.unregister("before-call.kms.Sign", deny)

    assert make_sender().tick().confirmed == [record.tx_id]
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


# -- stuck and lost transactions ---------------------------------------------------------------


def test_a_stuck_transaction_is_replaced_with_bumped_fees_and_mined_once(
    w3, operator_deployment, make_sender, settings, clock, tester
):
    sender = make_sender(stuck_after_seconds=STUCK_AFTER)
    tester.disable_auto_mine_transactions()
    record = send_anchor(sender, operator_deployment, root(1))
    assert record.status == "submitted"
    assert w3.eth.get_transaction(record.tx_hash)["blockNumber"] is None  # pending, not mined

    clock.advance(STUCK_AFTER - 1)
    early = sender.tick()
    assert early.replaced == [] and early.waiting == [record.tx_id]

    clock.advance(1)
    report = sender.tick()

    assert report.replaced == [record.tx_id]
    bumped = sender._store.get(record.tx_id)
    assert bumped.replacements == 1 and bumped.nonce == record.nonce
    assert bumped.tx_hashes == [record.tx_hash, bumped.tx_hash] and bumped.tx_hash != record.tx_hash
    assert bumped.max_fee_per_gas >= -(-record.max_fee_per_gas * 11 // 10)
    assert bumped.max_priority_fee_per_gas >= -(-record.max_priority_fee_per_gas * 11 // 10)
    assert bumped.max_fee_per_gas <= settings.fees.max_fee_per_gas_cap

    tester.mine_blocks()
    assert sender.tick().confirmed == [record.tx_id]
    final = sender._store.get(record.tx_id)
    assert final.tx_hash == bumped.tx_hash
    mined = [h for h in final.tx_hashes if _has_receipt(w3, h)]
    assert mined == [bumped.tx_hash]  # exactly one of the hashes is mined
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


def test_a_stuck_transaction_is_bumped_again_until_the_cap_then_resent_as_is(
    w3, operator_deployment, make_sender, settings, clock, tester
):
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    priority = 1 * GWEI
    first_max_fee = 2 * base_fee + priority
    cap = first_max_fee * 115 // 100  # room for one 10% bump of the max fee, not two
    fees = FeePolicy(max_fee_per_gas_cap=cap, priority_fee=priority, gas_headroom_percent=25)
    sender = make_sender(fees=fees)
    tester.disable_auto_mine_transactions()
    record = send_anchor(sender, operator_deployment, root(1))
    hashes = [record.tx_hash]

    for _ in range(3):
        clock.advance(STUCK_AFTER)
        sender.tick()
        hashes.append(sender._store.get(record.tx_id).tx_hash)

    stored = sender._store.get(record.tx_id)
    assert stored.replacements == 1
    assert len(set(hashes)) == 2 and hashes[1] == hashes[2] == hashes[3]
    assert stored.max_fee_per_gas <= cap
    assert stored.error == "fees_at_cap"
    tester.mine_blocks()
    assert sender.tick().confirmed == [record.tx_id]
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


def test_a_replacement_is_stored_before_it_is_broadcast(
    w3, operator_deployment, make_sender, settings, clock, tester, monkeypatch
):
    dying = make_sender()
    tester.disable_auto_mine_transactions()
    record = send_anchor(dying, operator_deployment, root(1))
    clock.advance(STUCK_AFTER)
    with monkeypatch.context() as m:
        die_on(w3.eth, "send_raw_transaction", m)  # the replacement never reaches the node
        with pytest.raises(LambdaDied):
            dying.tick()
    stored = dying._store.get(record.tx_id)
    assert len(stored.tx_hashes) == 2 and stored.replacements == 1

    clock.advance(10)  # the node doesn't know the new hash: the next tick resends the stored bytes
    report = make_sender().tick()
    assert report.resent == [record.tx_id] and report.replaced == []

    tester.mine_blocks()
    assert make_sender().tick().confirmed == [record.tx_id]
    final = dying._store.get(record.tx_id)
    assert final.tx_hash == stored.tx_hash
    assert_ledger_matches_chain(w3, operator_deployment, settings, dying.address, [root(1)])


def test_a_transaction_the_node_lost_is_resent_unchanged(
    w3, operator_deployment, make_sender, settings, clock, tester
):
    sender = make_sender(resend_after_seconds=10)
    tester.disable_auto_mine_transactions()
    record = send_anchor(sender, operator_deployment, root(1))
    tester._pending_transactions.clear()  # the node dropped it from its pool

    clock.advance(5)
    assert sender.tick().resent == []  # too early to ask
    clock.advance(5)
    report = sender.tick()

    assert report.resent == [record.tx_id] and report.replaced == []
    assert w3.eth.get_transaction(record.tx_hash)["nonce"] == record.nonce
    tester.mine_blocks()
    assert sender.tick().confirmed == [record.tx_id]
    final = sender._store.get(record.tx_id)
    assert final.tx_hashes == [record.tx_hash] and final.broadcasts == 2
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


def test_wait_replaces_a_stuck_transaction_too(w3, operator_deployment, make_sender, settings, clock, tester):
    sender = make_sender()
    tester.disable_auto_mine_transactions()
    record = send_anchor(sender, operator_deployment, root(1))
    polls = [0]

    def sleep(_seconds: float) -> None:
        polls[0] += 1
        clock.advance(1)
        if polls[0] == STUCK_AFTER + 2:
            tester.mine_blocks()

    sender._sleep = sleep
    final = sender.wait(record.tx_id, timeout=60, poll=1)

    assert final.status == "confirmed" and final.replacements == 1
    assert final.tx_hash == final.tx_hashes[1]
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


# -- nonces: gaps and nonces used elsewhere -------------------------------------------------------


def test_a_nonce_gap_left_by_the_ledger_jumping_forward_is_filled(
    w3, operator_deployment, make_sender, settings, dynamodb_client
):
    sender = make_sender()
    assert sender.wait(send_anchor(sender, operator_deployment, root(1)).tx_id).status == "confirmed"
    dynamodb_client.update_item(  # the ledger's counter jumps from 1 to 3
        TableName=f"{settings.table_prefix}signers", Key={"signer": {"S": sender.address}},
        UpdateExpression="SET next_nonce = :n", ExpressionAttributeValues={":n": {"N": "3"}},
    )
    blocked = send_anchor(sender, operator_deployment, root(2))
    assert blocked.nonce == 3 and blocked.status == "signed"  # py-evm refuses nonce 3 while 1 and 2 are missing

    report = sender.tick()

    assert len(report.gap_fillers) == 2
    fillers = [sender._store.get(tx_id) for tx_id in report.gap_fillers]
    assert [f.nonce for f in fillers] == [1, 2]
    assert all((f.purpose, f.to, f.value, f.data, f.status) == (GAP_FILLER_PURPOSE, sender.address, 0, "0x",
                                                                   "confirmed") for f in fillers)
    assert sender._store.get(blocked.tx_id).status == "confirmed"
    assert sender.tick().gap_fillers == []  # filled once
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1), root(2)])


def test_a_nonce_whose_record_was_lost_is_filled(w3, operator_deployment, make_sender, settings, dynamodb_client):
    sender = make_sender()
    intents = []
    for i in (1, 2):
        data = anchor_data(w3, operator_deployment, root(i))
        gas = sender.estimate_gas(to=operator_deployment.anchor, data=data)
        intents.append(sender._store.record_intent(
            sender.address, TxIntent(purpose="anchor", to=operator_deployment.anchor, data=data, gas=gas),
            chain_id=sender.chain_id, chain_nonce=0))
    dynamodb_client.delete_item(TableName=f"{settings.table_prefix}transactions",
                                Key={"tx_id": {"S": intents[0].tx_id}})

    report = sender.tick()

    [filler_id] = report.gap_fillers
    assert sender._store.get(filler_id).nonce == 0
    assert sender._store.nonce_holder(sender.address, 0) == filler_id
    assert sorted(report.confirmed) == sorted([filler_id, intents[1].tx_id])
    # The lost record's intent is gone with it; everything the ledger still holds landed once.
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(2)])


def test_an_unbroadcast_record_whose_nonce_was_used_elsewhere_is_requeued_at_once(
    w3, operator_deployment, make_sender, settings, kms_signer
):
    sender = make_sender()
    data = anchor_data(w3, operator_deployment, root(1))
    gas = sender.estimate_gas(to=operator_deployment.anchor, data=data)
    record = sender._store.record_intent(
        sender.address, TxIntent(purpose="anchor", to=operator_deployment.anchor, data=data, gas=gas),
        chain_id=sender.chain_id, chain_nonce=0)
    _send_foreign_transaction(w3, kms_signer, nonce=0)  # someone used the key by hand

    report = sender.tick()

    old = sender._store.get(record.tx_id)
    assert (old.status, old.error) == ("failed", NONCE_CONSUMED_ELSEWHERE)
    assert report.requeued == [record.tx_id]
    new = sender._store.get(old.requeued_as)
    assert (new.status, new.nonce, new.requeued_from, new.data) == ("confirmed", 1, record.tx_id, record.data)
    assert new.tx_id in report.confirmed
    assert old.to_public()["requeued_as"] == new.tx_id
    # Whoever follows the old id learns what became of the intent.
    assert sender._store.resolve(record.tx_id).tx_id == new.tx_id
    followed = sender.refresh(record.tx_id)
    assert followed.tx_id == new.tx_id and followed.to_public()["requeued_from"] == record.tx_id
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)], foreign_nonces=1)


def test_a_sent_transaction_displaced_by_a_foreign_one_is_requeued_after_the_grace(
    w3, operator_deployment, make_sender, settings, kms_signer, clock, tester
):
    sender = make_sender(nonce_consumed_grace_seconds=30)
    tester.disable_auto_mine_transactions()
    record = send_anchor(sender, operator_deployment, root(1))
    _send_foreign_transaction(w3, kms_signer, nonce=0, priority=200 * GWEI)  # replaces ours in the pool
    tester.mine_blocks()
    tester.enable_auto_mine_transactions()

    first = sender.tick()
    assert first.requeued == [] and first.waiting == [record.tx_id]
    assert sender._store.get(record.tx_id).error == "nonce_used_without_our_receipt"
    clock.advance(30)
    final = sender.wait(record.tx_id)  # wait follows the intent to its new record

    assert final.requeued_from == record.tx_id and final.status == "confirmed" and final.nonce == 1
    assert sender._store.get(record.tx_id).status == "failed"
    assert not _has_receipt(w3, record.tx_hash)
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)], foreign_nonces=1)


def test_two_ticks_racing_to_requeue_create_one_new_record(
    w3, operator_deployment, make_sender, settings, kms_signer
):
    sender = make_sender()
    data = anchor_data(w3, operator_deployment, root(1))
    record = sender._store.record_intent(
        sender.address, TxIntent(purpose="anchor", to=operator_deployment.anchor, data=data,
                                 gas=sender.estimate_gas(to=operator_deployment.anchor, data=data)),
        chain_id=sender.chain_id, chain_nonce=0)
    _send_foreign_transaction(w3, kms_signer, nonce=0)
    stale_copy = sender._store.get(record.tx_id)

    old, new = sender._store.requeue(record, error=NONCE_CONSUMED_ELSEWHERE, chain_nonce=1)
    again, none = sender._store.requeue(stale_copy, error=NONCE_CONSUMED_ELSEWHERE, chain_nonce=1)

    assert new is not None and none is None
    assert again.requeued_as == new.tx_id
    assert sender._store.next_nonce(sender.address) == 2
    sender.tick()
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)], foreign_nonces=1)


# -- concurrency -------------------------------------------------------------------------------


def test_two_relayers_sharing_the_key_send_everything_exactly_once(
    w3, operator_deployment, make_sender, settings, kms_client, monkeypatch
):
    chain_lock = threading.RLock()  # py-evm is not thread safe: serialise requests as the local stack does
    real = w3.provider.make_request

    def locked(method: str, params: Any) -> Any:
        with chain_lock:
            return real(method, params)

    monkeypatch.setattr(w3.provider, "make_request", locked)
    monkeypatch.setattr(w3.provider, "_request_func_cache", (None, None))
    calls = count_kms_sign(kms_client)
    # Real time and short real sleeps: wait() must be able to time out if something is lost.
    senders = [make_sender(client=boto3.client("dynamodb"), clock=time.time, sleep=lambda s: time.sleep(min(s, 0.005)))
               for _ in range(2)]
    roots = [root(i) for i in range(40)]
    results: dict[int, list[TxRecord]] = {0: [], 1: []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(worker: int) -> None:
        try:
            start.wait()
            for r in roots[worker::2]:
                record = send_anchor(senders[worker], operator_deployment, r)
                results[worker].append(senders[worker].wait(record.tx_id, timeout=30))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    finals = results[0] + results[1]
    assert len(finals) == 40 and all(r.status == "confirmed" for r in finals)
    assert sorted(r.nonce for r in finals) == list(range(40))
    assert calls["Sign"] == 40  # one signature per transaction: no signing race wasted a KMS call
    assert_ledger_matches_chain(w3, operator_deployment, settings, senders[0].address, roots)


def test_a_tick_racing_a_send_signs_once(w3, operator_deployment, make_sender, settings, kms_client, monkeypatch):
    sender = make_sender()
    calls = count_kms_sign(kms_client)
    ticked: list[Any] = []
    real_sign = sender._signer.sign_transaction

    def sign_while_the_tick_runs(tx: dict[str, Any]) -> bytes:
        raw = real_sign(tx)
        if not ticked:  # the scheduled tick runs while this invocation holds a fresh signature
            ticked.append(None)
            ticked[0] = make_sender().tick()
        return raw

    monkeypatch.setattr(sender._signer, "sign_transaction", sign_while_the_tick_runs)
    record = send_anchor(sender, operator_deployment, root(1))

    assert ticked[0].confirmed == [record.tx_id]  # the tick signed and sent it
    assert calls["Sign"] == 2  # ours lost the race to the ledger and was thrown away, never broadcast
    final = sender._store.get(record.tx_id)
    assert record.status == "confirmed" and final.tx_hashes == [final.tx_hash]
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


# -- gas money ---------------------------------------------------------------------------------


def test_low_gas_funds_are_logged_and_reported_as_a_metric(w3, make_sender, capsys, monkeypatch):
    import json
    import logging

    sender = make_sender()
    balance = w3.eth.get_balance(sender.address)
    warnings: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = warnings.append  # type: ignore[method-assign]
    logger = logging.getLogger("manabi.relayer")
    monkeypatch.setattr(logger, "handlers", [handler])  # "manabi" may not propagate (JSON logs)

    low = sender.check_gas_funds(balance + 1)
    ok = sender.check_gas_funds(balance)

    assert low == {"address": sender.address, "balance_wei": balance, "min_balance_wei": balance + 1, "low": True}
    assert ok["low"] is False
    assert [(r.getMessage(), r.balance_wei) for r in warnings] == [("operator gas balance is low", str(balance))]
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = [(e["_aws"]["CloudWatchMetrics"][0]["Namespace"], m["Name"], e[m["Name"]])
               for e in emitted for m in e["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert metrics == [
        ("ManabiRelay", "OperatorBalanceWei", [float(balance)]),
        ("ManabiRelay", "OperatorBalanceLow", [1.0]),
        ("ManabiRelay", "OperatorBalanceWei", [float(balance)]),
        ("ManabiRelay", "OperatorBalanceLow", [0.0]),
    ]


# -- helpers -----------------------------------------------------------------------------------


def _has_receipt(w3: Any, tx_hash: str) -> bool:
    from web3.exceptions import TransactionNotFound

    try:
        w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return False
    return True


def _send_foreign_transaction(w3: Any, signer: Any, *, nonce: int, priority: int = 1 * GWEI) -> str:
    """A self-transfer signed with the operator key outside the relayer (e.g. by hand from the console)."""
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    raw = signer.sign_transaction({
        "type": 2, "chainId": w3.eth.chain_id, "nonce": nonce, "to": signer.address, "value": 0,
        "gas": 21_000, "maxFeePerGas": 2 * base_fee + priority, "maxPriorityFeePerGas": priority,
    })
    return w3.eth.send_raw_transaction(raw).hex()


def _http_response(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    return response


# -- more crash points: the tick's own repairs ----------------------------------------------------


def test_a_lambda_dying_after_recording_a_gap_filler_is_finished_without_a_second_filler(
    w3, operator_deployment, make_sender, settings, dynamodb_client, monkeypatch
):
    sender = make_sender()
    dynamodb_client.update_item(  # nonce 0 was allocated but never recorded
        TableName=f"{settings.table_prefix}signers", Key={"signer": {"S": sender.address}},
        UpdateExpression="SET next_nonce = :n", ExpressionAttributeValues={":n": {"N": "1"}},
    )
    blocked = send_anchor(sender, operator_deployment, root(1))
    assert (blocked.nonce, blocked.status) == (1, "signed")
    with monkeypatch.context() as m:
        die_on(sender._signer, "sign_transaction", m)
        with pytest.raises(LambdaDied):
            sender.tick()
    [filler] = [r for r in all_records(settings, sender.address) if r.purpose == GAP_FILLER_PURPOSE]
    assert (filler.nonce, filler.status) == (0, "queued")

    report = make_sender().tick()

    assert report.gap_fillers == []
    assert sorted(report.confirmed) == sorted([filler.tx_id, blocked.tx_id])
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1)])


def test_a_transaction_queued_behind_a_missing_nonce_is_not_fee_bumped(
    w3, operator_deployment, make_sender, settings, clock, dynamodb_client
):
    """On a node with a mempool, nonce n+1 waits behind n: it is blocked, not underpriced."""
    sender = make_sender()
    records = []
    for i in (1, 2):
        data = anchor_data(w3, operator_deployment, root(i))
        records.append(sender._store.record_intent(
            sender.address, TxIntent(purpose="anchor", to=operator_deployment.anchor, data=data,
                                     gas=sender.estimate_gas(to=operator_deployment.anchor, data=data)),
            chain_id=sender.chain_id, chain_nonce=0))
    # Nonce 1 went out to a node that queued it (py-evm can't: store it as a mempool would hold it).
    second = sender._sign(records[1], *sender.current_fees())
    second.status, second.sent_at, second.last_broadcast_at = "submitted", int(clock()), int(clock())
    second = sender._store.save(second)
    clock.advance(STUCK_AFTER * 2)

    report = sender.tick()

    assert report.replaced == []  # nonce 0 was the head of the line: nonce 1 was only waiting for it
    assert report.resent == [records[1].tx_id]  # the node (py-evm) did not know it: sent as is
    final = sender._store.get(records[1].tx_id)
    assert (final.status, final.tx_hashes) == ("confirmed", second.tx_hashes)
    assert_ledger_matches_chain(w3, operator_deployment, settings, sender.address, [root(1), root(2)])
