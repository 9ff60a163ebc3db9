"""The relayer's core: sends KMS-signed transactions and follows them to the end.

One :class:`TransactionSender` serves one signer address. Many senders (threads,
Lambda containers) may share one signer: the ledger (:mod:`.transactions`)
allocates nonces, and its versioned writes decide every race.

Invariants, each kept at every step so that a crash anywhere loses nothing:

1. A transaction is recorded, with its nonce, before it is signed.
2. Signed bytes (first ones and fee-bumped replacements alike) are stored before
   they are broadcast, and only bytes whose hash is in the record's ``tx_hashes``
   are ever broadcast. A worker that loses the race to store its signature throws
   it away. So a receipt for *any* of a record's hashes settles it.
3. Broadcasting the same bytes twice is harmless ("already known", "nonce too
   low" and "replacement underpriced" all mean "already sent").

So any step may be retried, by the caller or by :meth:`TransactionSender.tick`.

What the tick does, per signer, lowest nonce first (after OpenZeppelin Relayer):

- resumes records left ``queued``/``signed`` by a crashed or timed-out invocation;
- **replaces** the head-of-line transaction (the signer's lowest unmined nonce)
  when it has not been mined ``stuck_after_seconds`` after it was sent: same
  nonce, both fee fields bumped by at least ``fee_bump_percent`` (10%, rounded
  up) and never above ``fees.max_fee_per_gas_cap``; at the cap it resends the
  last bytes instead. Later nonces are not bumped: they wait behind the head,
  not on fees;
- **resends** the current bytes when the node no longer knows the hash;
- **fills nonce gaps**: a nonce the ledger allocated, the chain has not used,
  and no record holds (a lost record, or a ledger counter that jumped) gets a
  zero-value self-transfer (purpose :data:`GAP_FILLER_PURPOSE`), recorded like
  any other transaction, so later nonces can be mined;
- **re-queues** a record whose nonce the chain used for a transaction that is
  not ours (none of our hashes has a receipt once the chain is past the nonce,
  e.g. the key was used by hand): the record fails with
  :data:`NONCE_CONSUMED_ELSEWHERE` and, in the same DynamoDB transaction, its
  intent is recorded again under a new nonce (``requeued_as`` /
  ``requeued_from`` link the two). None of our bytes for the old nonce can ever
  be mined any more, so the intended action lands exactly once, through the new
  record. If any of our bytes had gone out, we first wait
  ``nonce_consumed_grace_seconds`` and look again, so that a lagging RPC replica
  can't make us send an action twice.

RPC failures (timeouts, connection errors, HTTP 5xx/429, JSON-RPC errors other
than a node's verdict on a transaction) are retried with exponential backoff and
full jitter, ``rpc_attempts`` times; after that the record stays open for the tick.

py-evm (the embedded chain) has no mempool: it refuses a nonce above the next
expected one. Such a record stays ``signed`` and waits in a per-process room;
whoever broadcasts the nonce before it broadcasts it next (bytes already stored,
no new signature), and :meth:`TransactionSender.wait` and the tick resend it too.
A node with a mempool queues such a transaction itself.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..config import FeePolicy
from ..errors import ChainError, NotFound, SignerError, TransactionFailed
from .transactions import TransactionStore, TxIntent, TxRecord

if TYPE_CHECKING:
    from web3 import Web3

logger = logging.getLogger("manabi.relayer")

T = TypeVar("T")

#: Purpose of the zero-value self-transfers that fill nonce gaps.
GAP_FILLER_PURPOSE = "nonce gap filler"
#: Error of a record whose nonce the chain used for a transaction that is not ours.
NONCE_CONSUMED_ELSEWHERE = "nonce_consumed_elsewhere"
#: Gas of a plain value transfer to an externally owned account.
_TRANSFER_GAS = 21_000
#: KMS failures worth leaving to the tick rather than reporting to the caller.
_TRANSIENT_SIGNER_CODES = frozenset({"kms_throttled", "kms_unavailable"})
#: CloudWatch namespace of the relayer's metrics (EMF).
METRICS_NAMESPACE = "ManabiRelay"


class Signer(Protocol):
    @property
    def address(self) -> str: ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes: ...


# How nodes (geth, erigon, bor, py-evm) say that a transaction, or one with its
# nonce, is already in the pool or the chain: the bytes went out before.
_ALREADY_SENT = re.compile(
    r"already known|known transaction|nonce too low|replacement (transaction )?underpriced", re.I
)
_PYEVM_NONCE = re.compile(r"Invalid transaction nonce: Expected (\d+), but got (\d+)")
# Nonce ahead of the chain: an earlier nonce has not landed yet; try again later.
_NONCE_AHEAD = re.compile(r"nonce too high", re.I)
# A node's verdict on the transaction itself: retrying the same request can't help.
_PERMANENT = re.compile(
    r"insufficient funds|intrinsic gas|invalid|exceeds block gas limit|gas limit reached|fee cap|"
    r"tip above|less than block base fee|underpriced|not supported|execution reverted|out of gas",
    re.I,
)


def classify_broadcast_error(message: str) -> str:
    """``sent`` (treat as broadcast), ``later`` (retry later) or ``error``."""
    match = _PYEVM_NONCE.search(message)
    if match:
        expected, got = int(match.group(1)), int(match.group(2))
        return "sent" if got < expected else "later"
    if _ALREADY_SENT.search(message):
        return "sent"
    if _NONCE_AHEAD.search(message):
        return "later"
    return "error"


def is_transient_rpc_error(exc: BaseException) -> bool:
    """True for failures of the RPC transport or node that a later attempt may not meet."""
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import HTTPError, Timeout
    from web3.exceptions import (
        BlockNotFound,
        ProviderConnectionError,
        TimeExhausted,
        TooManyRequests,
        TransactionNotFound,
        Web3RPCError,
    )

    if isinstance(exc, (TransactionNotFound, BlockNotFound, ChainError)):
        return False
    if isinstance(exc, (Timeout, RequestsConnectionError, TimeExhausted, ProviderConnectionError, TooManyRequests,
                        TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return status is None or status >= 500 or status == 429
    if isinstance(exc, Web3RPCError):
        message = str(exc)
        return classify_broadcast_error(message) == "error" and not _PERMANENT.search(message)
    return False


@dataclass
class TickReport:
    """What one relayer tick did (tx ids)."""

    broadcast: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    #: Re-signed with bumped fees (same nonce).
    replaced: list[str] = field(default_factory=list)
    #: Same bytes broadcast again because the node had lost them.
    resent: list[str] = field(default_factory=list)
    #: Failed with ``nonce_consumed_elsewhere``; their intents were recorded again.
    requeued: list[str] = field(default_factory=list)
    #: Gap-filling self-transfers recorded by this tick.
    gap_fillers: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(ids) for name, ids in vars(self).items()}


class _WaitingRoom:
    """Records refused because an earlier nonce had not been broadcast yet (per process).

    Keyed by (chain id, signer, nonce). Whoever broadcasts nonce n takes the
    record waiting at n + 1 out and broadcasts it. Only py-evm refuses such
    transactions; nodes with a mempool queue them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[tuple[int, str], dict[int, str]] = {}

    def enter(self, key: tuple[int, str], nonce: int, tx_id: str) -> None:
        with self._lock:
            self._rooms.setdefault(key, {})[nonce] = tx_id

    def leave(self, key: tuple[int, str], nonce: int) -> str | None:
        with self._lock:
            room = self._rooms.get(key)
            if not room:
                return None
            tx_id = room.pop(nonce, None)
            if not room:
                del self._rooms[key]
            return tx_id


_waiting_room = _WaitingRoom()


class _ChainView:
    """The signer's nonces on chain, read at most once per tick (or per :meth:`wait` poll)."""

    def __init__(self, sender: TransactionSender) -> None:
        self._sender = sender
        self._latest: int | None = None
        self._settled: int | None = None

    def latest(self) -> int:
        """Transactions of the signer in the latest block: the head-of-line nonce."""
        if self._latest is None:
            self._latest = int(self._sender._rpc(self._sender.w3.eth.get_transaction_count, self._sender.address,
                                                 "latest"))
        return self._latest

    def settled(self) -> int:
        """Transactions of the signer at the confirmation depth: nonces below it are used for good."""
        if self._settled is None:
            depth = self._sender.confirmations - 1
            if depth == 0:
                self._settled = self.latest()
            else:
                w3 = self._sender.w3
                block = max(0, int(self._sender._rpc(lambda: w3.eth.block_number)) - depth)
                self._settled = int(self._sender._rpc(w3.eth.get_transaction_count, self._sender.address, block))
        return self._settled


class TransactionSender:
    """Records, signs, broadcasts, confirms and (when stuck) replaces transactions of one signer.

    Args beyond the long-standing ones (all optional):
        stuck_after_seconds: a sent transaction not mined this long after it was
            sent is replaced with bumped fees (OpenZeppelin Relayer uses ~25 s).
        resend_after_seconds: after this long without a receipt, ask the node
            whether it still knows the transaction, and resend it if not.
        fee_bump_percent: minimum fee increase of a replacement (>= 10, as nodes require).
        nonce_consumed_grace_seconds: how long the chain must be seen past a
            nonce, with no receipt for any of our hashes, before the intent is
            re-queued under a new nonce.
        max_gap_fill: most gap fillers one tick records (bounds one tick's work).
        rpc_attempts, rpc_base_delay, rpc_max_delay: bounded retries of
            transient RPC failures, exponential backoff with full jitter.
    """

    def __init__(
        self,
        w3: Web3,
        signer: Signer,
        store: TransactionStore,
        *,
        fees: FeePolicy,
        confirmations: int = 1,
        chain_id: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        stuck_after_seconds: float = 25.0,
        resend_after_seconds: float = 10.0,
        fee_bump_percent: int = 10,
        nonce_consumed_grace_seconds: float = 30.0,
        max_gap_fill: int = 16,
        rpc_attempts: int = 4,
        rpc_base_delay: float = 0.1,
        rpc_max_delay: float = 2.0,
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1")
        if fee_bump_percent < 10:
            raise ValueError("fee_bump_percent must be at least 10: nodes refuse smaller replacements")
        if stuck_after_seconds <= 0 or resend_after_seconds < 0 or nonce_consumed_grace_seconds < 0:
            raise ValueError("stuck_after_seconds must be positive, the other delays not negative")
        if max_gap_fill < 1 or rpc_attempts < 1 or rpc_base_delay < 0 or rpc_max_delay < 0:
            raise ValueError("max_gap_fill and rpc_attempts must be >= 1, RPC delays >= 0")
        self._w3 = w3
        self._signer = signer
        self._store = store
        self._fees = fees
        self._confirmations = confirmations
        self._chain_id = chain_id
        self._clock = clock
        self._sleep = sleep
        self._stuck_after = stuck_after_seconds
        self._resend_after = resend_after_seconds
        self._bump_percent = fee_bump_percent
        self._consumed_grace = nonce_consumed_grace_seconds
        self._max_gap_fill = max_gap_fill
        self._rpc_attempts = rpc_attempts
        self._rpc_base_delay = rpc_base_delay
        self._rpc_max_delay = rpc_max_delay

    @property
    def address(self) -> str:
        return self._signer.address

    @property
    def w3(self) -> Web3:
        return self._w3

    @property
    def confirmations(self) -> int:
        return self._confirmations

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._rpc(lambda: self._w3.eth.chain_id))
        return self._chain_id

    # -- sending -----------------------------------------------------------------------------

    def send(self, *, purpose: str, to: str, data: str | bytes, value: int = 0) -> TxRecord:
        """Record a call of ``data`` on ``to`` and broadcast it.

        The call is simulated first (gas estimate): if it would revert, nothing
        is recorded and :class:`TransactionFailed` carries the revert reason.
        Returns the record, normally ``submitted``; ``queued``/``signed`` when
        broadcasting must wait (fees above the cap, an earlier nonce pending, the
        node or KMS unavailable after retries), in which case :meth:`tick` finishes
        it. Once recorded, the intent is never dropped: a :class:`ChainError` raised
        after that point (the node refused the transaction) carries its ``tx_id``
        in ``details``, and the record stays open.
        """
        data_hex = data if isinstance(data, str) else "0x" + data.hex()
        gas = self.estimate_gas(to=to, data=data_hex, value=value)
        chain_nonce = self._rpc(self._w3.eth.get_transaction_count, self.address, "pending")
        record = self._store.record_intent(
            self.address,
            TxIntent(purpose=purpose, to=self._w3.to_checksum_address(to), data=data_hex, value=value, gas=gas),
            chain_id=self.chain_id,
            chain_nonce=int(chain_nonce),
        )
        try:
            return self.broadcast(record)
        except ChainError as exc:
            exc.details.setdefault("tx_id", record.tx_id)
            raise

    def estimate_gas(self, *, to: str, data: str, value: int = 0) -> int:
        """Gas for the call plus the configured headroom; raises if the call reverts."""
        from web3.exceptions import ContractCustomError, ContractLogicError

        tx = {"from": self.address, "to": self._w3.to_checksum_address(to), "data": data, "value": value}
        try:
            estimate = self._rpc(self._w3.eth.estimate_gas, tx)
        except (ContractCustomError, ContractLogicError) as exc:
            raise TransactionFailed(
                "the transaction would revert", code="would_revert", revert_data=_revert_data(exc)
            ) from exc
        except ChainError:
            raise
        except Exception as exc:  # noqa: BLE001 - eth-tester raises its own TransactionFailed
            if type(exc).__name__ == "TransactionFailed":
                raise TransactionFailed(
                    "the transaction would revert", code="would_revert", revert_data=_revert_data(exc)
                ) from exc
            raise ChainError("could not estimate gas", code="rpc_unavailable") from exc
        return estimate * (100 + self._fees.gas_headroom_percent) // 100

    def current_fees(self) -> tuple[int, int] | None:
        """(max fee, priority fee) per gas, or None when the base fee is above the cap."""
        base_fee = self._base_fee()
        priority = self._fees.priority_fee
        if base_fee + priority > self._fees.max_fee_per_gas_cap:
            return None
        # Twice the base fee survives six full blocks of base-fee growth (12.5% each).
        return min(2 * base_fee + priority, self._fees.max_fee_per_gas_cap), priority

    def broadcast(self, record: TxRecord) -> TxRecord:
        """Sign ``record`` if needed and send its bytes. Safe to repeat.

        Raises :class:`ChainError` when the node refuses the transaction outright
        (e.g. insufficient funds) or KMS refuses to sign; the record stays open.
        """
        if not record.is_open:
            return record
        if record.raw_tx is None:
            fees = self.current_fees()
            if fees is None:
                record.error = "fees_above_cap"
                return self._store.save(record)
            try:
                record = self._sign(record, *fees)
            except SignerError as exc:
                record.error = exc.code
                saved = self._store.save(record)
                if exc.code in _TRANSIENT_SIGNER_CODES:
                    return saved
                exc.details.setdefault("tx_id", record.tx_id)
                raise
            if record.raw_tx is None or not record.is_open:
                return record
        return self._push(record)

    def _sign(self, record: TxRecord, max_fee: int, priority_fee: int) -> TxRecord:
        """Sign ``record`` (again) with these fees and store the bytes; returns the stored record.

        If another worker stored a signature first, ours is discarded (never
        broadcast) and the stored record is returned.
        """
        tx = {
            "type": 2,
            "chainId": record.chain_id or self.chain_id,
            "nonce": record.nonce,
            "to": record.to,
            "value": record.value,
            "data": record.data,
            "gas": record.gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority_fee,
        }
        raw = self._signer.sign_transaction(tx)
        tx_hash = "0x" + _keccak(raw).hex()
        replacing = record.raw_tx is not None
        record.raw_tx = "0x" + raw.hex()
        record.tx_hash = tx_hash
        record.tx_hashes = [*record.tx_hashes, tx_hash]
        record.max_fee_per_gas = max_fee
        record.max_priority_fee_per_gas = priority_fee
        record.signed_at = int(self._clock())
        record.sent_at = None
        if replacing:
            record.replacements += 1
        if record.status == "queued":
            record.status = "signed"
        # Stored before broadcast: after a crash we resend exactly these bytes.
        return self._store.save(record)

    def _push(self, record: TxRecord, *, recheck: bool = True, drain: bool = True, note: str | None = None) -> TxRecord:
        """Hand the stored bytes to the node and record the outcome (``note`` as the error when sent)."""
        assert record.raw_tx is not None
        verdict, failure = self._send_raw(record.raw_tx)
        key = (record.chain_id or self.chain_id, self.address)
        if verdict == "sent":
            now = int(self._clock())
            record.status = "submitted"
            record.error = note
            record.broadcasts += 1
            record.submitted_at = record.submitted_at or now
            record.sent_at = record.sent_at or now
            record.last_broadcast_at = now
            saved = self._store.save(record)
            _waiting_room.leave(key, record.nonce)
            if drain:
                self._drain(key, record.nonce + 1)
            return saved
        if verdict == "later":
            record.error = "waiting_for_earlier_nonce"
            saved = self._store.save(record)
            if saved is not record:
                return saved  # someone else moved it on
            _waiting_room.enter(key, record.nonce, record.tx_id)
            # The earlier nonce may have gone out between our attempt and entering the
            # room, without seeing us there: look once more.
            return self._push(saved, recheck=False, drain=drain) if recheck else saved
        if verdict == "unavailable":
            record.error = "rpc_unavailable"
            return self._store.save(record)
        record.error = f"broadcast_failed: {str(failure)[:200]}"
        self._store.save(record)
        raise ChainError("the node refused the transaction", code="broadcast_failed",
                         tx_id=record.tx_id) from failure

    def _drain(self, key: tuple[int, str], nonce: int) -> None:
        """Broadcast the records that were waiting for ``nonce - 1``, in nonce order."""
        while (tx_id := _waiting_room.leave(key, nonce)) is not None:
            try:
                record = self._store.get(tx_id)
            except NotFound:
                return
            if record.status != "signed" or record.raw_tx is None:
                return
            try:
                record = self._push(record, recheck=False, drain=False)
            except ChainError:
                return
            if record.status != "submitted":
                return
            nonce += 1

    def _send_raw(self, raw_tx: str) -> tuple[str, Exception | None]:
        """``sent``, ``later``, ``unavailable`` (RPC down after retries) or ``error`` (refused)."""
        try:
            self._rpc(self._w3.eth.send_raw_transaction, raw_tx)
        except ChainError as exc:
            return "unavailable", exc
        except Exception as exc:  # noqa: BLE001 - nodes report verdicts as plain RPC errors
            return classify_broadcast_error(str(exc)), exc
        return "sent", None

    # -- following ---------------------------------------------------------------------------

    def refresh(self, tx_id: str) -> TxRecord:
        """Look for a receipt of any of the record's hashes and settle the record.

        Follows a re-queued intent (see :meth:`TransactionStore.resolve`): the record
        returned may carry another ``tx_id``, with ``requeued_from`` set.
        """
        record = self._store.resolve(tx_id)
        if record.status != "submitted":
            return record
        found = self._find_receipt(record)
        return record if found is None else self._settle(record, *found)

    def wait(self, tx_id: str, *, timeout: float = 20.0, poll: float = 0.05) -> TxRecord:
        """Follow ``tx_id`` until it is confirmed or failed, or ``timeout`` passes.

        Does what the tick would do for this record (broadcast, resend, replace).
        If its nonce was consumed elsewhere, follows the re-queued record and
        returns that one (a different ``tx_id``, ``requeued_from`` set).
        """
        deadline = self._clock() + timeout
        while True:
            record = self._store.get(tx_id)
            if record.is_open:
                try:
                    record = self._advance(record, _ChainView(self), TickReport())
                except ChainError as exc:
                    if exc.code != "rpc_unavailable":
                        raise
            if record.requeued_as and not record.is_open:
                tx_id = record.requeued_as
                continue
            if not record.is_open or self._clock() >= deadline:
                return record
            self._sleep(poll)

    def tick(self) -> TickReport:
        """Finish every unfinished transaction of this signer, lowest nonce first.

        Run by the scheduled relayer function: it resumes whatever a crashed or
        timed-out invocation left behind, replaces stuck transactions, resends
        lost ones, fills nonce gaps and re-queues intents whose nonce was used
        elsewhere.
        """
        report = TickReport()
        view = _ChainView(self)
        records = self._store.open_transactions(self.address)
        records = sorted([*records, *self._fill_gaps(records, report)], key=lambda r: r.nonce)
        queue = list(records)
        while queue:
            record = queue.pop(0)
            try:
                record = self._advance(record, view, report)
            except ChainError:
                report.waiting.append(record.tx_id)
                continue
            if record.status == "confirmed":
                report.confirmed.append(record.tx_id)
            elif record.status == "failed":
                report.failed.append(record.tx_id)
                if record.requeued_as and record.tx_id in report.requeued:
                    queue.append(self._store.get(record.requeued_as))
            else:
                report.waiting.append(record.tx_id)
        if any((report.replaced, report.requeued, report.gap_fillers)):
            logger.info("relayer tick repaired transactions", extra=report.counts())
        return report

    def _advance(self, record: TxRecord, view: _ChainView, report: TickReport) -> TxRecord:
        """One step towards the end for one open record."""
        if record.nonce < view.latest():
            # The chain has used this nonce: by one of our hashes, or by someone else.
            found = self._find_receipt(record)
            if found is not None:
                return self._settle(record, *found)
            if record.nonce < view.settled():
                return self._nonce_used_elsewhere(record, report)
            return record
        if record.status in ("queued", "signed"):
            try:
                record = self.broadcast(record)
            except ChainError:
                if record.raw_tx is None or record.nonce != view.latest() or not self._is_stale(record):
                    raise
                # Refused for too long at the head of the line (e.g. fees below the base
                # fee): a fee-bumped replacement may get through.
                return self._replace(record, report)
            if record.status != "submitted":
                return record
            report.broadcast.append(record.tx_id)
            return self._settle_if_mined(record)
        if record.status != "submitted":
            return record
        if record.nonce == view.latest() and self._is_stale(record):
            return self._settle_if_mined(self._replace(record, report))
        before = record.broadcasts
        record = self._resend_if_lost(record, report)
        return record if record.broadcasts == before else self._settle_if_mined(record)

    def _settle_if_mined(self, record: TxRecord) -> TxRecord:
        """Right after a broadcast: an instant-mining chain (py-evm) has the receipt already."""
        if record.status != "submitted":
            return record
        found = self._find_receipt(record)
        return record if found is None else self._settle(record, *found)

    def _find_receipt(self, record: TxRecord) -> tuple[str, Any] | None:
        from web3.exceptions import TransactionNotFound

        for tx_hash in reversed(record.tx_hashes):
            try:
                return tx_hash, self._rpc(self._w3.eth.get_transaction_receipt, tx_hash)
            except TransactionNotFound:
                continue
        return None

    def _settle(self, record: TxRecord, tx_hash: str, receipt: Any) -> TxRecord:
        depth = int(self._rpc(lambda: self._w3.eth.block_number)) - int(receipt["blockNumber"]) + 1
        if depth < self._confirmations:
            return record
        record.tx_hash = tx_hash
        record.block_number = int(receipt["blockNumber"])
        record.gas_used = int(receipt["gasUsed"])
        record.nonce_lost_at = None
        if receipt["status"] == 1:
            record.status = "confirmed"
            record.error = None
        else:
            record.status = "failed"
            record.error = "reverted"
        return self._store.save(record)

    def _is_stale(self, record: TxRecord) -> bool:
        since = record.sent_at or record.signed_at or record.created_at
        return self._clock() - since >= self._stuck_after

    def _replace(self, record: TxRecord, report: TickReport) -> TxRecord:
        """Re-sign a stuck transaction with bumped fees (same nonce), store, then broadcast."""
        fees = self._replacement_fees(record)
        if fees is None:
            # Bumping would break the cap: resend the last bytes and wait for the base fee to fall.
            logger.warning("stuck transaction at the fee cap", extra={"tx_id": record.tx_id, "nonce": record.nonce})
            return self._push(record, note="fees_at_cap")
        replaced = self._sign(record, *fees)
        if replaced is not record:
            return replaced  # another worker replaced it first; our signature is discarded
        report.replaced.append(record.tx_id)
        logger.info("replacing stuck transaction", extra={
            "tx_id": record.tx_id, "nonce": record.nonce, "replacements": record.replacements,
            "max_fee_per_gas": fees[0], "max_priority_fee_per_gas": fees[1],
        })
        return self._push(replaced)

    def _replacement_fees(self, record: TxRecord) -> tuple[int, int] | None:
        """Fees at least ``fee_bump_percent`` above the last ones (both fields), under the cap; None if impossible."""
        if record.max_fee_per_gas is None or record.max_priority_fee_per_gas is None:
            return self.current_fees()
        cap = self._fees.max_fee_per_gas_cap
        min_max_fee = _bump(record.max_fee_per_gas, self._bump_percent)
        priority = max(_bump(record.max_priority_fee_per_gas, self._bump_percent), self._fees.priority_fee)
        max_fee = max(min_max_fee, 2 * self._base_fee() + priority)
        if max_fee > cap:
            if min_max_fee > cap:
                return None
            max_fee = cap
        if priority > max_fee:
            return None
        return max_fee, priority

    def _resend_if_lost(self, record: TxRecord, report: TickReport) -> TxRecord:
        """Broadcast the current bytes again if the node has forgotten them."""
        from web3.exceptions import TransactionNotFound

        last = record.last_broadcast_at or record.submitted_at or record.created_at
        if record.tx_hash is None or self._clock() - last < self._resend_after:
            return record
        try:
            self._rpc(self._w3.eth.get_transaction, record.tx_hash)
            return record
        except TransactionNotFound:
            pass
        report.resent.append(record.tx_id)
        logger.info("resending a transaction the node does not know", extra={"tx_id": record.tx_id})
        return self._push(record)

    def _nonce_used_elsewhere(self, record: TxRecord, report: TickReport) -> TxRecord:
        """The chain is past our nonce and none of our hashes has a receipt."""
        now = int(self._clock())
        if record.tx_hashes and self._consumed_grace > 0:
            # Something of ours went out: be sure before acting (a lagging replica, a reorg).
            if record.nonce_lost_at is None:
                record.nonce_lost_at = now
                record.error = "nonce_used_without_our_receipt"
                return self._store.save(record)
            if now - record.nonce_lost_at < self._consumed_grace:
                return record
        if record.purpose == GAP_FILLER_PURPOSE:
            # The gap is closed either way; nothing to re-queue.
            record.status, record.error = "failed", NONCE_CONSUMED_ELSEWHERE
            return self._store.save(record)
        chain_nonce = int(self._rpc(self._w3.eth.get_transaction_count, self.address, "pending"))
        old, new = self._store.requeue(record, error=NONCE_CONSUMED_ELSEWHERE, chain_nonce=chain_nonce)
        if new is not None:
            report.requeued.append(old.tx_id)
            logger.warning("nonce consumed by a transaction that is not ours; intent re-queued", extra={
                "tx_id": old.tx_id, "nonce": old.nonce, "requeued_as": new.tx_id, "new_nonce": new.nonce,
            })
        return old

    def _fill_gaps(self, open_records: list[TxRecord], report: TickReport) -> list[TxRecord]:
        """Record a self-transfer for every allocated nonce the chain hasn't used and no record holds."""
        next_nonce = self._store.next_nonce(self.address)
        if next_nonce is None:
            return []
        pending = int(self._rpc(self._w3.eth.get_transaction_count, self.address, "pending"))
        held = {r.nonce for r in open_records}
        fillers: list[TxRecord] = []
        for nonce in range(pending, min(next_nonce, pending + self._max_gap_fill)):
            if nonce in held:
                continue
            holder = self._store.nonce_holder(self.address, nonce)
            lost = None
            if holder is not None:
                try:
                    self._store.get(holder)
                    continue  # held (the open index lags behind, or it just finished)
                except NotFound:
                    lost = holder
            filler = self._store.record_at_nonce(
                self.address, nonce,
                TxIntent(purpose=GAP_FILLER_PURPOSE, to=self.address, data="0x", value=0, gas=_TRANSFER_GAS),
                chain_id=self.chain_id, lost_holder=lost,
            )
            if filler is not None:
                fillers.append(filler)
                report.gap_fillers.append(filler.tx_id)
                logger.warning("filling a nonce gap", extra={"tx_id": filler.tx_id, "nonce": nonce})
        return fillers

    # -- gas money ---------------------------------------------------------------------------

    def check_gas_funds(self, min_balance_wei: int) -> dict[str, Any]:
        """The signer's balance against ``min_balance_wei``; warns (log and metric) when low.

        Emits CloudWatch metrics through Powertools (EMF on stdout) in namespace
        ``ManabiRelay``: ``OperatorBalanceWei`` and ``OperatorBalanceLow`` (1 or 0).
        Returns ``{"address", "balance_wei", "min_balance_wei", "low"}``.
        """
        if min_balance_wei < 0:
            raise ValueError("min_balance_wei must not be negative")
        balance = int(self._rpc(self._w3.eth.get_balance, self.address))
        low = balance < min_balance_wei
        _emit_metric("OperatorBalanceWei", balance)
        _emit_metric("OperatorBalanceLow", 1 if low else 0)
        if low:
            logger.warning("operator gas balance is low", extra={
                "balance_wei": str(balance), "min_balance_wei": str(min_balance_wei),
            })
        return {"address": self.address, "balance_wei": balance, "min_balance_wei": min_balance_wei, "low": low}

    # -- plumbing ----------------------------------------------------------------------------

    def _base_fee(self) -> int:
        return int(self._rpc(self._w3.eth.get_block, "latest")["baseFeePerGas"])

    def _rpc(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)``, retrying transient RPC failures with exponential backoff and full jitter.

        Raises :class:`ChainError` (``rpc_unavailable``) once the attempts are
        spent; anything else (a node's verdict, ``TransactionNotFound``) at once.
        """
        for attempt in range(1, self._rpc_attempts + 1):
            try:
                return call(*args)
            except Exception as exc:  # noqa: BLE001 - sorted by is_transient_rpc_error
                if not is_transient_rpc_error(exc):
                    raise
                if attempt == self._rpc_attempts:
                    raise ChainError("the chain's RPC endpoint is unavailable", code="rpc_unavailable",
                                     attempts=attempt) from exc
            # Full jitter (AWS Architecture Blog) keeps concurrent relayers from retrying in step.
            self._sleep(random.uniform(0, min(self._rpc_max_delay, self._rpc_base_delay * 2 ** (attempt - 1))))
        raise AssertionError("unreachable")


def _bump(value: int, percent: int) -> int:
    """``value`` raised by ``percent``, rounded up (integer arithmetic, no floats)."""
    return -(-value * (100 + percent) // 100)


def _emit_metric(name: str, value: int) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=METRICS_NAMESPACE,
                       default_dimensions={"service": "relayer"}):
        pass


def _keccak(raw: bytes) -> bytes:
    from eth_utils import keccak

    return keccak(raw)


def _revert_data(exc: Exception) -> str | None:
    """The revert data (hex) a failed simulation carried, however the provider reported it."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return data
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, (bytes, bytearray)):
            return "0x" + bytes(arg).hex()
        if isinstance(arg, str) and arg.startswith("0x"):
            return arg
        if isinstance(arg, str):
            # eth-tester reports a custom error as the repr of its bytes.
            match = _PYEVM_REVERT.search(arg)
            if match:
                import ast

                return "0x" + bytes(ast.literal_eval(match.group(1))).hex()
    return None


_PYEVM_REVERT = re.compile(r"execution reverted: (b'.*'|b\".*\")\s*$", re.S)
