"""The relayer core: KMS-signed transactions recorded, broadcast and confirmed exactly once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from chalicelib.chain.contracts import contract
from chalicelib.chain.sender import TransactionSender, classify_broadcast_error
from chalicelib.chain.transactions import TransactionStore, TxIntent
from chalicelib.config import FeePolicy
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
