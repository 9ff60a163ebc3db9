"""The relayer's ledger: every transaction it intends, in DynamoDB.

A transaction is recorded *before* anything is signed or broadcast, in the
same DynamoDB transaction that advances its signer's nonce and claims that
nonce for it. A crash at any later point therefore leaves a record that the
relayer tick can finish, and never a silent gap in the nonce sequence.

Lifecycle: ``queued`` (nonce allocated) → ``signed`` (raw bytes stored) →
``submitted`` (broadcast at least once) → ``confirmed`` or ``failed``.

Layout:

- ``transactions``: one item per record, keyed by ``tx_id``. Open records carry
  ``open_signer`` and so appear in the sparse ``open-by-signer`` index.
- ``signers``: per signer address, ``next_nonce`` (the allocation counter), and
  per allocated nonce a *claim* item keyed ``"<address>#<nonce>"`` naming the
  record that holds it (``holder``). Claims make "which record owns nonce n"
  a strongly consistent single-item read, which the relayer uses to detect and
  fill nonce gaps without trusting the eventually consistent index.

Concurrency: every record carries a ``version``; :meth:`TransactionStore.save`
writes only over the version it read (optimistic locking). A worker that loses
a race gets the stored record back and must not act on what it wrote, which is
how the relayer guarantees that only bytes whose hash is in the ledger are ever
broadcast.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..config import Settings
from ..dynamo import deserialize, query_all, serialize
from ..errors import ChainError, NotFound
from ..tables import SIGNERS, TRANSACTIONS

OPEN_STATUSES = ("queued", "signed", "submitted")
FINAL_STATUSES = ("confirmed", "failed")
_ALLOCATION_ATTEMPTS = 50


@dataclass(frozen=True)
class TxIntent:
    """What the caller wants done on chain, independent of nonce and fees."""

    purpose: str
    to: str
    data: str
    value: int = 0
    gas: int = 0


@dataclass
class TxRecord:
    tx_id: str
    signer: str
    nonce: int
    purpose: str
    to: str
    data: str
    value: int
    gas: int
    status: str
    created_at: int
    updated_at: int
    chain_id: int = 0
    tx_hash: str | None = None
    tx_hashes: list[str] = field(default_factory=list)
    raw_tx: str | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    broadcasts: int = 0
    submitted_at: int | None = None
    block_number: int | None = None
    gas_used: int | None = None
    error: str | None = None
    #: Optimistic-locking counter, advanced by every successful save.
    version: int = 0
    #: How many times the transaction was re-signed with bumped fees (same nonce).
    replacements: int = 0
    #: When the current bytes (``raw_tx``) were signed, and first accepted by a node.
    signed_at: int | None = None
    sent_at: int | None = None
    #: When any of the bytes was last handed to a node.
    last_broadcast_at: int | None = None
    #: First time the chain was seen past this nonce with no receipt for any of our hashes.
    nonce_lost_at: int | None = None
    #: Set when this record's nonce was consumed elsewhere and its intent re-queued.
    requeued_as: str | None = None
    requeued_from: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def public_status(self) -> str:
        """The status as the API reports it: ``signed`` is still ``queued`` to a caller."""
        return "queued" if self.status == "signed" else self.status

    def to_item(self) -> dict[str, Any]:
        item = {k: v for k, v in asdict(self).items() if v is not None and v != []}
        if self.is_open:
            item["open_signer"] = self.signer
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TxRecord:
        ints = {"nonce", "value", "gas", "created_at", "updated_at", "chain_id", "max_fee_per_gas",
                "max_priority_fee_per_gas", "broadcasts", "submitted_at", "block_number", "gas_used",
                "version", "replacements", "signed_at", "sent_at", "last_broadcast_at", "nonce_lost_at"}
        known = cls.__dataclass_fields__.keys()
        values: dict[str, Any] = {}
        for key, value in item.items():
            if key not in known:
                continue
            values[key] = int(value) if key in ints else value
        values["tx_hashes"] = list(item.get("tx_hashes", []))
        return cls(**values)

    def to_public(self, explorer_url: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {
            "tx_id": self.tx_id,
            "purpose": self.purpose,
            "status": self.public_status,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "error": self.error,
        }
        if explorer_url and self.tx_hash:
            body["explorer_url"] = f"{explorer_url.rstrip('/')}/tx/{self.tx_hash}"
        # When another transaction used the nonce, the same intent lives on in a new record.
        if self.requeued_as:
            body["requeued_as"] = self.requeued_as
        if self.requeued_from:
            body["requeued_from"] = self.requeued_from
        return body

    @property
    def intent(self) -> TxIntent:
        return TxIntent(purpose=self.purpose, to=self.to, data=self.data, value=self.value, gas=self.gas)


def new_tx_id() -> str:
    return "tx_" + secrets.token_hex(12)


class TransactionStore:
    """Data access for the ``transactions`` and ``signers`` tables."""

    def __init__(self, settings: Settings, dynamodb_client: Any, *, clock: Any = time.time) -> None:
        self._client = dynamodb_client
        self._transactions = TRANSACTIONS.physical_name(settings)
        self._signers = SIGNERS.physical_name(settings)
        self._settings = settings
        self._clock = clock

    # -- nonces ------------------------------------------------------------------------------

    def record_intent(self, signer: str, intent: TxIntent, *, chain_id: int, chain_nonce: int) -> TxRecord:
        """Allocate ``signer``'s next nonce and record the intent, atomically.

        ``chain_nonce`` is the signer's pending transaction count on chain. If the
        key was used outside the relayer, the chain is ahead and we skip forward.
        Concurrent callers race on a conditional write; the loser re-reads and retries.
        """
        record = self._allocate(signer, intent, chain_id=chain_id, chain_nonce=chain_nonce)
        assert record is not None  # no extra items, so no conflict but contention
        return record

    def requeue(self, record: TxRecord, *, error: str, chain_nonce: int) -> tuple[TxRecord, TxRecord | None]:
        """Fail ``record`` with ``error`` and record its intent again under a new nonce, atomically.

        Returns ``(old, new)``. When another worker got there first (the stored
        record is no longer the version we hold), nothing is written and the
        result is ``(stored old record, None)``.
        """
        failed = TxRecord.from_item(record.to_item())
        failed.status, failed.error = "failed", error

        def close_old(new: TxRecord) -> list[dict[str, Any]]:
            failed.requeued_as = new.tx_id
            failed.updated_at = new.created_at
            failed.version = record.version + 1
            condition, values = _open_at_version(OPEN_STATUSES, record.version)
            return [{
                "Put": {
                    "TableName": self._transactions,
                    "Item": serialize(failed.to_item()),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#s": "status", "#v": "version"},
                    "ExpressionAttributeValues": values,
                }
            }]

        new = self._allocate(record.signer, record.intent, chain_id=record.chain_id, chain_nonce=chain_nonce,
                             requeued_from=record.tx_id, extra_items=close_old)
        if new is None:
            return self.get(record.tx_id), None
        return failed, new

    def record_at_nonce(
        self, signer: str, nonce: int, intent: TxIntent, *, chain_id: int, lost_holder: str | None = None
    ) -> TxRecord | None:
        """Record ``intent`` at a specific, already allocated ``nonce`` that no record holds (a gap).

        ``lost_holder`` is the tx_id of a claim whose record no longer exists; the
        claim is taken over only if it still names that record. Returns None when
        the nonce turned out to be held (a concurrent writer) or not yet allocated.
        """
        now = int(self._clock())
        record = TxRecord(
            tx_id=new_tx_id(), signer=signer, nonce=nonce, purpose=intent.purpose, to=intent.to,
            data=intent.data, value=intent.value, gas=intent.gas, status="queued",
            created_at=now, updated_at=now, chain_id=chain_id,
        )
        claim = self._claim_item(record)
        if lost_holder is None:
            claim["Put"]["ConditionExpression"] = "attribute_not_exists(signer)"
        else:
            claim["Put"]["ConditionExpression"] = "attribute_not_exists(signer) OR holder = :lost"
            claim["Put"]["ExpressionAttributeValues"] = {":lost": {"S": lost_holder}}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._signers,
                            "Key": {"signer": {"S": signer}},
                            "ConditionExpression": "next_nonce > :n",
                            "ExpressionAttributeValues": {":n": {"N": str(nonce)}},
                        }
                    },
                    claim,
                    self._put_new_item(record),
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return None
            raise ChainError("could not record the transaction", code="ledger_unavailable") from exc
        return record

    def _allocate(
        self,
        signer: str,
        intent: TxIntent,
        *,
        chain_id: int,
        chain_nonce: int,
        requeued_from: str | None = None,
        extra_items: Callable[[TxRecord], list[dict[str, Any]]] | None = None,
    ) -> TxRecord | None:
        """Take the next nonce for a new record; None if one of ``extra_items``' conditions failed."""
        for attempt in range(_ALLOCATION_ATTEMPTS):
            stored = self._stored_next_nonce(signer)
            nonce = chain_nonce if stored is None else max(stored, chain_nonce)
            now = int(self._clock())
            record = TxRecord(
                tx_id=new_tx_id(), signer=signer, nonce=nonce, purpose=intent.purpose, to=intent.to,
                data=intent.data, value=intent.value, gas=intent.gas, status="queued",
                created_at=now, updated_at=now, chain_id=chain_id, requeued_from=requeued_from,
            )
            if stored is None:
                guard = {"ConditionExpression": "attribute_not_exists(signer)"}
            else:
                guard = {
                    "ConditionExpression": "next_nonce = :stored",
                    "ExpressionAttributeValues": {":stored": {"N": str(stored)}},
                }
            signer_update: dict[str, Any] = {
                "TableName": self._signers,
                "Key": {"signer": {"S": signer}},
                "UpdateExpression": "SET next_nonce = :next",
                **guard,
            }
            signer_update.setdefault("ExpressionAttributeValues", {})[":next"] = {"N": str(nonce + 1)}
            # Claims exist only below next_nonce, so this one is new: no condition needed.
            claim = self._claim_item(record)
            extra = extra_items(record) if extra_items else []
            try:
                self._client.transact_write_items(
                    TransactItems=[{"Update": signer_update}, self._put_new_item(record), claim, *extra]
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise ChainError("could not record the transaction", code="ledger_unavailable") from exc
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if extra and any(code == "ConditionalCheckFailed" for code in reasons[3:]):
                    return None
                time.sleep(min(0.002 * (attempt + 1), 0.05))
                continue
            return record
        raise ChainError("too much contention allocating a nonce", code="nonce_contention")

    def _put_new_item(self, record: TxRecord) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._transactions,
                "Item": serialize(record.to_item()),
                "ConditionExpression": "attribute_not_exists(tx_id)",
            }
        }

    def _claim_item(self, record: TxRecord) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._signers,
                "Item": {
                    "signer": {"S": _claim_key(record.signer, record.nonce)},
                    "holder": {"S": record.tx_id},
                    "claimed_at": {"N": str(record.created_at)},
                },
            }
        }

    def _stored_next_nonce(self, signer: str) -> int | None:
        item = self._client.get_item(
            TableName=self._signers, Key={"signer": {"S": signer}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else int(item["next_nonce"]["N"])

    def next_nonce(self, signer: str) -> int | None:
        """The nonce the next intent of ``signer`` will get (None before its first)."""
        return self._stored_next_nonce(signer)

    def nonce_holder(self, signer: str, nonce: int) -> str | None:
        """The tx_id of the record that holds ``signer``'s ``nonce``, or None if no record claimed it."""
        item = self._client.get_item(
            TableName=self._signers, Key={"signer": {"S": _claim_key(signer, nonce)}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else item["holder"]["S"]

    # -- records -----------------------------------------------------------------------------

    def get(self, tx_id: str) -> TxRecord:
        item = self._client.get_item(
            TableName=self._transactions, Key={"tx_id": {"S": tx_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            raise NotFound("no such transaction", code="transaction_not_found")
        return TxRecord.from_item(deserialize(item))

    def resolve(self, tx_id: str) -> TxRecord:
        """The record now carrying ``tx_id``'s intent: ``tx_id`` itself, or the record it was re-queued as.

        A record fails with ``nonce_consumed_elsewhere`` when another transaction
        used its nonce; its intent then lives on in ``requeued_as``. Ask this, not
        :meth:`get`, when the question is "did the action happen (or will it)?".
        """
        record = self.get(tx_id)
        for _ in range(_ALLOCATION_ATTEMPTS):
            if record.is_open or not record.requeued_as:
                return record
            record = self.get(record.requeued_as)
        return record

    def save(self, record: TxRecord, *, expected_status: tuple[str, ...] = OPEN_STATUSES) -> TxRecord:
        """Write ``record`` back if the stored one is still the version it was read at, in ``expected_status``.

        Returns ``record`` itself (its ``version`` advanced) when written. When the
        stored record moved on (another worker saved it, or it is final), nothing is
        written and the stored record is returned instead: check ``result is record``
        before acting on anything the write was meant to make durable. Finished
        records are never rewritten, so a slow worker can't undo a confirmation.
        """
        previous = (record.version, record.updated_at)
        condition, values = _open_at_version(expected_status, record.version)
        record.updated_at = int(self._clock())
        record.version += 1
        try:
            self._client.put_item(
                TableName=self._transactions,
                Item=serialize(record.to_item()),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status", "#v": "version"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            record.version, record.updated_at = previous
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return self.get(record.tx_id)
            raise ChainError("could not update the transaction", code="ledger_unavailable") from exc
        except BaseException:
            record.version, record.updated_at = previous
            raise
        return record

    def open_transactions(self, signer: str) -> list[TxRecord]:
        """Unfinished transactions of ``signer``, lowest nonce first."""
        records = [TxRecord.from_item(item) for item in query_all(
            self._client,
            TableName=self._transactions,
            IndexName="open-by-signer",
            KeyConditionExpression="open_signer = :s",
            ExpressionAttributeValues={":s": {"S": signer}},
        )]
        # The index is eventually consistent: re-read each record before acting on it.
        fresh = [self.get(r.tx_id) for r in records]
        return sorted((r for r in fresh if r.is_open), key=lambda r: r.nonce)


def _claim_key(signer: str, nonce: int) -> str:
    return f"{signer}#{nonce}"


def _open_at_version(statuses: tuple[str, ...], version: int) -> tuple[str, dict[str, Any]]:
    """Condition (on ``#s`` status, ``#v`` version) that the stored record is in ``statuses`` at ``version``."""
    values: dict[str, Any] = {f":e{i}": {"S": status} for i, status in enumerate(statuses)}
    condition = f"#s IN ({', '.join(values)})"
    values[":v"] = {"N": str(version)}
    # Records written before versioning existed lack the attribute; they are version 0.
    version_condition = "(attribute_not_exists(#v) OR #v = :v)" if version == 0 else "#v = :v"
    return f"{condition} AND {version_condition}", values
