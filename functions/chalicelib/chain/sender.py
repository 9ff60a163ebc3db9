"""The relayer's core: sends KMS-signed transactions and follows them to the end.

One :class:`TransactionSender` serves one signer address. Every transaction
is recorded (with its nonce) before it is signed, signed bytes are stored
before they are broadcast, and broadcasting the same bytes twice is harmless.
So any step may be retried, by the caller or by :meth:`tick`, after a crash.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..config import FeePolicy
from ..errors import ChainError, TransactionFailed
from .transactions import TransactionStore, TxIntent, TxRecord

if TYPE_CHECKING:
    from web3 import Web3


class Signer(Protocol):
    @property
    def address(self) -> str: ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes: ...


# How nodes (geth, erigon, bor, py-evm) say that a transaction, or one with its
# nonce, is already in the pool or the chain: the bytes went out before.
_ALREADY_SENT = re.compile(r"already known|known transaction|nonce too low|replacement (transaction )?underpriced", re.I)
_PYEVM_NONCE = re.compile(r"Invalid transaction nonce: Expected (\d+), but got (\d+)")
# Nonce ahead of the chain: an earlier nonce has not landed yet; try again later.
_NONCE_AHEAD = re.compile(r"nonce too high", re.I)


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


@dataclass
class TickReport:
    """What one relayer tick did."""

    broadcast: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


class TransactionSender:
    """Records, signs, broadcasts and confirms transactions of one signer."""

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
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1")
        self._w3 = w3
        self._signer = signer
        self._store = store
        self._fees = fees
        self._confirmations = confirmations
        self._chain_id = chain_id
        self._clock = clock
        self._sleep = sleep

    @property
    def address(self) -> str:
        return self._signer.address

    @property
    def w3(self) -> Web3:
        return self._w3

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._w3.eth.chain_id)
        return self._chain_id

    # -- sending -----------------------------------------------------------------------------

    def send(self, *, purpose: str, to: str, data: str | bytes, value: int = 0) -> TxRecord:
        """Record a call of ``data`` on ``to`` and broadcast it.

        The call is simulated first (gas estimate): if it would revert, nothing
        is recorded and :class:`TransactionFailed` carries the revert reason.
        Returns the record, normally ``submitted``; ``queued``/``signed`` when
        broadcasting must wait (fees above the cap, an earlier nonce pending),
        in which case :meth:`tick` finishes it.
        """
        data_hex = data if isinstance(data, str) else "0x" + data.hex()
        gas = self.estimate_gas(to=to, data=data_hex, value=value)
        record = self._store.record_intent(
            self.address,
            TxIntent(purpose=purpose, to=self._w3.to_checksum_address(to), data=data_hex, value=value, gas=gas),
            chain_id=self.chain_id,
            chain_nonce=self._w3.eth.get_transaction_count(self.address, "pending"),
        )
        return self.broadcast(record)

    def estimate_gas(self, *, to: str, data: str, value: int = 0) -> int:
        """Gas for the call plus the configured headroom; raises if the call reverts."""
        from web3.exceptions import ContractCustomError, ContractLogicError

        tx = {"from": self.address, "to": self._w3.to_checksum_address(to), "data": data, "value": value}
        try:
            estimate = self._w3.eth.estimate_gas(tx)
        except (ContractCustomError, ContractLogicError) as exc:
            raise TransactionFailed(
                "the transaction would revert", code="would_revert", revert_data=_revert_data(exc)
            ) from exc
        except Exception as exc:  # noqa: BLE001 - eth-tester raises its own TransactionFailed
            if type(exc).__name__ == "TransactionFailed":
                raise TransactionFailed(
                    "the transaction would revert", code="would_revert", revert_data=_revert_data(exc)
                ) from exc
            raise ChainError("could not estimate gas", code="rpc_unavailable") from exc
        return estimate * (100 + self._fees.gas_headroom_percent) // 100

    def current_fees(self) -> tuple[int, int] | None:
        """(max fee, priority fee) per gas, or None when the base fee is above the cap."""
        base_fee = int(self._w3.eth.get_block("latest")["baseFeePerGas"])
        priority = self._fees.priority_fee
        if base_fee + priority > self._fees.max_fee_per_gas_cap:
            return None
        # Twice the base fee survives six full blocks of base-fee growth (12.5% each).
        return min(2 * base_fee + priority, self._fees.max_fee_per_gas_cap), priority

    def broadcast(self, record: TxRecord) -> TxRecord:
        """Sign ``record`` if needed and send its bytes. Safe to repeat."""
        if not record.is_open:
            return record
        if record.raw_tx is None:
            fees = self.current_fees()
            if fees is None:
                record.error = "fees_above_cap"
                return self._store.save(record)
            record = self._sign(record, *fees)
        try:
            self._w3.eth.send_raw_transaction(record.raw_tx)
        except Exception as exc:  # noqa: BLE001 - nodes report these as plain RPC errors
            verdict = classify_broadcast_error(str(exc))
            if verdict == "later":
                record.error = "waiting_for_earlier_nonce"
                return self._store.save(record)
            if verdict == "error":
                record.error = f"broadcast_failed: {str(exc)[:200]}"
                self._store.save(record)
                raise ChainError("the node refused the transaction", code="broadcast_failed") from exc
        record.status = "submitted"
        record.error = None
        record.broadcasts += 1
        record.submitted_at = record.submitted_at or int(self._clock())
        return self._store.save(record)

    def _sign(self, record: TxRecord, max_fee: int, priority_fee: int) -> TxRecord:
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
        record.raw_tx = "0x" + raw.hex()
        record.tx_hash = tx_hash
        record.tx_hashes = [*record.tx_hashes, tx_hash]
        record.max_fee_per_gas = max_fee
        record.max_priority_fee_per_gas = priority_fee
        record.status = "signed"
        # Stored before broadcast: after a crash we resend exactly these bytes.
        return self._store.save(record)

    # -- following ---------------------------------------------------------------------------

    def refresh(self, tx_id: str) -> TxRecord:
        """Look for a receipt of any of the record's hashes and settle the record."""
        record = self._store.get(tx_id)
        if record.status != "submitted":
            return record
        from web3.exceptions import TransactionNotFound

        for tx_hash in reversed(record.tx_hashes):
            try:
                receipt = self._w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                continue
            depth = int(self._w3.eth.block_number) - int(receipt["blockNumber"]) + 1
            if depth < self._confirmations:
                return record
            record.tx_hash = tx_hash
            record.block_number = int(receipt["blockNumber"])
            record.gas_used = int(receipt["gasUsed"])
            if receipt["status"] == 1:
                record.status = "confirmed"
                record.error = None
            else:
                record.status = "failed"
                record.error = "reverted"
            return self._store.save(record, expected_status=("submitted",))
        return record

    def wait(self, tx_id: str, *, timeout: float = 20.0, poll: float = 0.05) -> TxRecord:
        """Follow ``tx_id`` until it is confirmed or failed, or ``timeout`` passes."""
        deadline = self._clock() + timeout
        while True:
            record = self._store.get(tx_id)
            if record.status in ("queued", "signed"):
                record = self.broadcast(record)
            record = self.refresh(tx_id) if record.status == "submitted" else record
            if not record.is_open or self._clock() >= deadline:
                return record
            self._sleep(poll)

    def tick(self) -> TickReport:
        """Finish every unfinished transaction of this signer, lowest nonce first.

        Run by the scheduled relayer function: it resumes whatever a crashed or
        timed-out invocation left behind.
        """
        report = TickReport()
        for record in self._store.open_transactions(self.address):
            if record.status in ("queued", "signed"):
                try:
                    record = self.broadcast(record)
                except ChainError:
                    report.waiting.append(record.tx_id)
                    continue
                if record.status == "submitted":
                    report.broadcast.append(record.tx_id)
            if record.status == "submitted":
                record = self.refresh(record.tx_id)
            if record.status == "confirmed":
                report.confirmed.append(record.tx_id)
            elif record.status == "failed":
                report.failed.append(record.tx_id)
            else:
                report.waiting.append(record.tx_id)
        return report


def _keccak(raw: bytes) -> bytes:
    from eth_utils import keccak

    return keccak(raw)


def _revert_data(exc: Exception) -> str | None:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return data
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, (bytes, bytearray)):
            return "0x" + bytes(arg).hex()
        if isinstance(arg, str) and arg.startswith("0x"):
            return arg
    return None
