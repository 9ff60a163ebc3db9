"""The relayer core: KMS-signed transactions recorded, broadcast and confirmed exactly once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from chalicelib.chain.contracts import contract
from chalicelib.chain.sender import TickReport, TransactionSender, classify_broadcast_error, is_transient_rpc_error
from chalicelib.chain.transactions import TxIntent, TxRecord
from chalicelib.config import GWEI, FeePolicy
from chalicelib.errors import ChainError, TransactionFailed


def _anchor_call(w3: Any, deployment: Any, root: bytes, count: int = 3) -> str:
    anchor = contract(w3, "LearningRecordAnchor", deployment.anchor)
    return anchor.encode_abi("anchor", args=[root, count, "s3://records/2027-03.json"])


def test_send_records_signs_broadcasts_and_confirms(w3, operator_deployment, operator_sender, tx_store):
    root = b"\x11" * 32
    record = operator_sender.send(purpose="anchor", to=operator_deployment.anchor,
                                  data=_anchor_call(w3, operator_deployment, root))
    assert record.status == "submitted"
    assert record.nonce == 0
    final = operator_sender.wait(record.tx_id)
    assert final.status == "confirmed"
    receipt = w3.eth.get_transaction_receipt(final.tx_hash)
    assert receipt["status"] == 1
    assert receipt["from"] == operator_sender.address
    assert final.block_number == receipt["blockNumber"]
    assert final.gas_used == receipt["gasUsed"]
    anchor = contract(w3, "LearningRecordAnchor", operator_deployment.anchor)
    assert anchor.functions.anchoredAt(root).call() > 0
    # The stored record is final and has left the open index.
    assert tx_store.get(record.tx_id).status == "confirmed"
    assert tx_store.open_transactions(operator_sender.address) == []


def test_a_call_that_would_revert_is_refused_before_anything_is_recorded(
    w3, operator_deployment, operator_sender, tx_store
):
    root = b"\x22" * 32
    operator_sender.wait(
        operator_sender.send(purpose="anchor", to=operator_deployment.anchor,
                             data=_anchor_call(w3, operator_deployment, root)).tx_id
    )
    before = tx_store.next_nonce(operator_sender.address)
    with pytest.raises(TransactionFailed) as caught:
        operator_sender.send(purpose="anchor again", to=operator_deployment.anchor,
                             data=_anchor_call(w3, operator_deployment, root))
    assert caught.value.code == "would_revert"
    assert tx_store.next_nonce(operator_sender.address) == before == 1


def test_nonces_are_consecutive_across_many_sends(w3, operator_deployment, operator_sender):
    records = [
        operator_sender.send(purpose="anchor", to=operator_deployment.anchor,
                             data=_anchor_call(w3, operator_deployment, bytes([i + 1]) * 32))
        for i in range(5)
    ]
    assert [r.nonce for r in records] == [0, 1, 2, 3, 4]
    assert all(operator_sender.wait(r.tx_id).status == "confirmed" for r in records)
    assert w3.eth.get_transaction_count(operator_sender.address) == 5


def test_concurrent_allocations_get_unique_gapless_nonces(tx_store):
    signer = "0x" + "ab" * 20
    results: list[int] = []
    lock = threading.Lock()

    def allocate() -> None:
        for _ in range(5):
            record = tx_store.record_intent(signer, TxIntent(purpose="t", to=signer, data="0x"),
                                            chain_id=1, chain_nonce=0)
            with lock:
                results.append(record.nonce)

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(40))
    assert tx_store.next_nonce(signer) == 40


def test_a_stale_read_loses_the_conditional_write_and_retries(tx_store, monkeypatch):
    signer = "0x" + "cd" * 20
    tx_store.record_intent(signer, TxIntent(purpose="t", to=signer, data="0x"), chain_id=1, chain_nonce=0)
    real = tx_store._stored_next_nonce
    reads = []

    def stale_then_real(address: str) -> int | None:
        # The first read is stale: another worker has already taken nonce 0.
        reads.append(address)
        return 0 if len(reads) == 1 else real(address)

    monkeypatch.setattr(tx_store, "_stored_next_nonce", stale_then_real)
    record = tx_store.record_intent(signer, TxIntent(purpose="t", to=signer, data="0x"), chain_id=1, chain_nonce=0)
    assert record.nonce == 1
    assert len(reads) == 2


def test_the_chain_being_ahead_skips_the_ledger_forward(tx_store):
    signer = "0x" + "ef" * 20
    first = tx_store.record_intent(signer, TxIntent(purpose="t", to=signer, data="0x"), chain_id=1, chain_nonce=7)
    second = tx_store.record_intent(signer, TxIntent(purpose="t", to=signer, data="0x"), chain_id=1, chain_nonce=0)
    assert (first.nonce, second.nonce) == (7, 8)


def test_a_crash_after_recording_is_finished_by_the_tick(w3, operator_deployment, operator_sender, tx_store):
    data = _anchor_call(w3, operator_deployment, b"\x33" * 32)
    gas = operator_sender.estimate_gas(to=operator_deployment.anchor, data=data)
    # The invocation dies right after the ledger write: nothing signed, nothing sent.
    record = tx_store.record_intent(
        operator_sender.address, TxIntent(purpose="anchor", to=operator_deployment.anchor, data=data, gas=gas),
        chain_id=w3.eth.chain_id, chain_nonce=0,
    )
    assert w3.eth.get_transaction_count(operator_sender.address) == 0
    report = operator_sender.tick()
    assert report.broadcast == [record.tx_id]
    assert report.confirmed == [record.tx_id]
    assert tx_store.get(record.tx_id).status == "confirmed"
    assert w3.eth.get_transaction_count(operator_sender.address) == 1


def test_a_crash_after_broadcast_is_not_sent_twice(w3, operator_deployment, operator_sender, tx_store):
    record = operator_sender.send(purpose="anchor", to=operator_deployment.anchor,
                                  data=_anchor_call(w3, operator_deployment, b"\x44" * 32))
    # Pretend the invocation died before it could write "submitted": the ledger says "signed".
    record.status = "signed"
    tx_store.save(record)
    report = operator_sender.tick()
    assert report.confirmed == [record.tx_id]
    assert w3.eth.get_transaction_count(operator_sender.address) == 1
    assert tx_store.get(record.tx_id).tx_hash == record.tx_hash


def test_fees_above_the_cap_keep_the_transaction_queued(w3, operator_deployment, kms_signer, tx_store, operator_sender):
    capped = TransactionSender(w3, kms_signer, tx_store, fees=FeePolicy(max_fee_per_gas_cap=1, priority_fee=1))
    record = capped.send(purpose="anchor", to=operator_deployment.anchor,
                         data=_anchor_call(w3, operator_deployment, b"\x55" * 32))
    assert record.status == "queued"
    assert record.error == "fees_above_cap"
    assert w3.eth.get_transaction_count(kms_signer.address) == 0
    # With a sane cap the tick sends it.
    assert operator_sender.tick().confirmed == [record.tx_id]


def test_a_reverted_transaction_is_recorded_as_failed(w3, operator_deployment, operator_sender, tx_store):
    data = _anchor_call(w3, operator_deployment, b"\x66" * 32)
    # Estimated while it still succeeds; by the time it is mined the first one has landed.
    gas = operator_sender.estimate_gas(to=operator_deployment.anchor, data=data)
    first = operator_sender.send(purpose="anchor", to=operator_deployment.anchor, data=data)
    operator_sender.wait(first.tx_id)
    second = tx_store.record_intent(
        operator_sender.address, TxIntent(purpose="anchor twice", to=operator_deployment.anchor, data=data, gas=gas),
        chain_id=w3.eth.chain_id, chain_nonce=w3.eth.get_transaction_count(operator_sender.address),
    )
    final = operator_sender.wait(operator_sender.broadcast(second).tx_id)
    assert final.status == "failed"
    assert final.error == "reverted"
    assert w3.eth.get_transaction_receipt(final.tx_hash)["status"] == 0


def test_a_refused_broadcast_raises_and_stays_open(w3, operator_deployment, operator_sender, tx_store, monkeypatch):
    def refuse(raw: Any) -> None:
        raise ValueError("insufficient funds for gas * price + value")

    monkeypatch.setattr(w3.eth, "send_raw_transaction", refuse)
    with pytest.raises(ChainError) as caught:
        operator_sender.send(purpose="anchor", to=operator_deployment.anchor,
                             data=_anchor_call(w3, operator_deployment, b"\x77" * 32))
    assert caught.value.code == "broadcast_failed"
    [record] = tx_store.open_transactions(operator_sender.address)
    assert record.status == "signed"
    assert record.error.startswith("broadcast_failed")


@pytest.mark.parametrize(
    ("message", "verdict"),
    [
        ("already known", "sent"),
        ("nonce too low", "sent"),
        ("replacement transaction underpriced", "sent"),
        ("Invalid transaction nonce: Expected 5, but got 3", "sent"),
        ("Invalid transaction nonce: Expected 3, but got 5", "later"),
        ("nonce too high", "later"),
        ("insufficient funds for gas * price + value", "error"),
    ],
)
def test_broadcast_errors_are_classified(message, verdict):
    assert classify_broadcast_error(message) == verdict


def test_store_never_rewrites_a_final_record(w3, operator_deployment, operator_sender, tx_store):
    record = operator_sender.wait(
        operator_sender.send(purpose="anchor", to=operator_deployment.anchor,
                             data=_anchor_call(w3, operator_deployment, b"\x88" * 32)).tx_id
    )
    stale = tx_store.get(record.tx_id)
    stale.status = "submitted"
    assert tx_store.save(stale).status == "confirmed"
    assert tx_store.get(record.tx_id).status == "confirmed"


# -- retries, replacement fees, the versioned ledger -----------------------------------------------


def _rpc_errors() -> list[tuple[Exception, bool]]:
    import requests
    from web3.exceptions import TimeExhausted, TransactionNotFound, Web3RPCError

    def http(status: int) -> Exception:
        response = requests.Response()
        response.status_code = status
        return requests.exceptions.HTTPError(f"{status}", response=response)

    return [
        (requests.exceptions.Timeout("read timed out"), True),
        (requests.exceptions.ConnectionError("reset"), True),
        (http(502), True),
        (http(429), True),
        (http(400), False),
        (TimeExhausted("no receipt"), True),
        (Web3RPCError("{'code': -32005, 'message': 'request rate exceeded'}"), True),
        (Web3RPCError("{'code': -32000, 'message': 'nonce too low'}"), False),
        (Web3RPCError("{'code': -32000, 'message': 'already known'}"), False),
        (Web3RPCError("{'code': -32000, 'message': 'insufficient funds for gas * price + value'}"), False),
        (TransactionNotFound("not found"), False),
        (ValueError("Invalid transaction nonce: Expected 3, but got 5"), False),
        (ChainError("wrapped", code="rpc_unavailable"), False),
    ]


@pytest.mark.parametrize(("error", "transient"), _rpc_errors(),
                         ids=lambda v: str(v) if isinstance(v, bool) else type(v).__name__)
def test_transient_rpc_failures_are_told_apart_from_a_nodes_verdict(error, transient):
    assert is_transient_rpc_error(error) is transient


def test_an_error_after_recording_carries_the_tx_id(w3, operator_deployment, operator_sender, tx_store, monkeypatch):
    def refuse(raw: Any) -> None:
        raise ValueError("insufficient funds for gas * price + value")

    monkeypatch.setattr(w3.eth, "send_raw_transaction", refuse)
    with pytest.raises(ChainError) as caught:
        operator_sender.send(purpose="anchor", to=operator_deployment.anchor,
                             data=_anchor_call(w3, operator_deployment, b"\x99" * 32))
    assert tx_store.get(caught.value.details["tx_id"]).status == "signed"


def _signed_record(max_fee: int, priority: int) -> TxRecord:
    return TxRecord(tx_id="tx_test", signer="0x" + "11" * 20, nonce=0, purpose="t", to="0x" + "22" * 20, data="0x",
                    value=0, gas=21_000, status="submitted", created_at=0, updated_at=0, raw_tx="0x00",
                    max_fee_per_gas=max_fee, max_priority_fee_per_gas=priority)


def test_replacement_fees_rise_at_least_ten_percent_rounded_up(w3, kms_signer, tx_store):
    sender = TransactionSender(w3, kms_signer, tx_store, fees=FeePolicy(max_fee_per_gas_cap=10**12, priority_fee=1))
    max_fee, priority = sender._replacement_fees(_signed_record(10**11 + 1, 10**9 + 3))
    assert max_fee >= -(-(10**11 + 1) * 11 // 10) == 110_000_000_002
    assert priority >= -(-(10**9 + 3) * 11 // 10) == 1_100_000_004
    assert max_fee <= 10**12 and priority <= max_fee


def test_replacement_fees_stop_at_the_cap(w3, kms_signer, tx_store):
    old = _signed_record(100 * GWEI, 2 * GWEI)
    roomy = TransactionSender(w3, kms_signer, tx_store, fees=FeePolicy(max_fee_per_gas_cap=115 * GWEI, priority_fee=1))
    assert roomy._replacement_fees(old) == (110 * GWEI, 2_200_000_000)  # the base fee is far below
    tight = TransactionSender(w3, kms_signer, tx_store, fees=FeePolicy(max_fee_per_gas_cap=105 * GWEI, priority_fee=1))
    assert tight._replacement_fees(old) is None  # a 10% bump would break the cap: resend as is
    market = TransactionSender(w3, kms_signer, tx_store,
                               fees=FeePolicy(max_fee_per_gas_cap=115 * GWEI, priority_fee=20 * GWEI))
    assert market._replacement_fees(old)[1] == 20 * GWEI  # never below today's configured tip


@pytest.mark.parametrize("option", [{"fee_bump_percent": 9}, {"stuck_after_seconds": 0}, {"rpc_attempts": 0},
                                    {"max_gap_fill": 0}, {"resend_after_seconds": -1}])
def test_the_sender_checks_its_options(w3, kms_signer, tx_store, option):
    with pytest.raises(ValueError):
        TransactionSender(w3, kms_signer, tx_store, fees=FeePolicy(), **option)


def test_a_save_from_a_stale_copy_loses_to_the_stored_version(tx_store):
    signer = "0x" + "12" * 20
    record = tx_store.record_intent(signer, TxIntent(purpose="t", to=signer, data="0x"), chain_id=1, chain_nonce=0)
    stale = tx_store.get(record.tx_id)
    record.raw_tx, record.status = "0x01", "signed"
    assert tx_store.save(record) is record and record.version == 1
    stale.raw_tx, stale.status = "0x02", "signed"
    winner = tx_store.save(stale)
    assert winner is not stale and winner.raw_tx == "0x01" and stale.version == 0
    assert tx_store.get(record.tx_id).raw_tx == "0x01"


def test_every_allocated_nonce_is_claimed_by_its_record(tx_store):
    signer = "0x" + "34" * 20
    records = [tx_store.record_intent(signer, TxIntent(purpose="t", to=signer, data="0x"), chain_id=1, chain_nonce=0)
               for _ in range(3)]
    assert [tx_store.nonce_holder(signer, r.nonce) for r in records] == [r.tx_id for r in records]
    assert tx_store.nonce_holder(signer, 3) is None


def test_a_gap_record_takes_only_an_allocated_unclaimed_nonce(tx_store):
    signer = "0x" + "56" * 20
    intent = TxIntent(purpose="nonce gap filler", to=signer, data="0x", gas=21_000)
    held = tx_store.record_intent(signer, intent, chain_id=1, chain_nonce=2)  # nonces 0 and 1 skipped
    assert tx_store.record_at_nonce(signer, 2, intent, chain_id=1) is None  # held
    assert tx_store.record_at_nonce(signer, 3, intent, chain_id=1) is None  # not allocated yet
    filler = tx_store.record_at_nonce(signer, 1, intent, chain_id=1)
    assert filler is not None and filler.nonce == 1 and tx_store.nonce_holder(signer, 1) == filler.tx_id
    assert tx_store.record_at_nonce(signer, 1, intent, chain_id=1) is None  # filled once
    assert tx_store.record_at_nonce(signer, 2, intent, chain_id=1, lost_holder="tx_other") is None
    taken = tx_store.record_at_nonce(signer, 2, intent, chain_id=1, lost_holder=held.tx_id)
    assert taken is not None and tx_store.nonce_holder(signer, 2) == taken.tx_id


def test_the_public_view_keeps_its_shape_and_names_a_requeued_record():
    record = _signed_record(1, 1)
    assert set(record.to_public()) == {"tx_id", "purpose", "status", "tx_hash", "block_number", "error"}
    record.requeued_as = "tx_new"
    assert record.to_public()["requeued_as"] == "tx_new"


def test_tick_report_counts_every_list():
    report = TickReport(confirmed=["a", "b"], gap_fillers=["c"])
    assert report.counts() == {"broadcast": 0, "confirmed": 2, "failed": 0, "waiting": 0, "replaced": 0,
                               "resent": 0, "requeued": 0, "gap_fillers": 1}
