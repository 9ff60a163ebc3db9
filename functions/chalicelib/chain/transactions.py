"""The relayer's ledger: every transaction it intends, in DynamoDB.

A transaction is recorded *before* anything is signed or broadcast, in the
same DynamoDB transaction that advances its signer's nonce. A crash at any
later point therefore leaves a record that the relayer tick can finish, and
never a gap in the nonce sequence.

Lifecycle: ``queued`` (nonce allocated) → ``signed`` (raw bytes stored) →
``submitted`` (broadcast at least once) → ``confirmed`` or ``failed``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ..config import Settings
from ..errors import ChainError, NotFound
from ..tables import SIGNERS, TRANSACTIONS, table

OPEN_STATUSES = ("queued", "signed", "submitted")
FINAL_STATUSES = ("confirmed", "failed")

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


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
                "max_priority_fee_per_gas", "broadcasts", "submitted_at", "block_number", "gas_used"}
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
        return body


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
        for attempt in range(50):
            stored = self._stored_next_nonce(signer)
            nonce = chain_nonce if stored is None else max(stored, chain_nonce)
            now = int(self._clock())
            record = TxRecord(
                tx_id=new_tx_id(), signer=signer, nonce=nonce, purpose=intent.purpose, to=intent.to,
                data=intent.data, value=intent.value, gas=intent.gas, status="queued",
                created_at=now, updated_at=now, chain_id=chain_id,
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
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {"Update": signer_update},
                        {
                            "Put": {
                                "TableName": self._transactions,
                                "Item": _serialize(record.to_item()),
                                "ConditionExpression": "attribute_not_exists(tx_id)",
                            }
                        },
                    ]
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise ChainError("could not record the transaction", code="ledger_unavailable") from exc
                time.sleep(min(0.002 * (attempt + 1), 0.05))
                continue
            return record
        raise ChainError("too much contention allocating a nonce", code="nonce_contention")

    def _stored_next_nonce(self, signer: str) -> int | None:
        item = self._client.get_item(
            TableName=self._signers, Key={"signer": {"S": signer}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else int(item["next_nonce"]["N"])

    def next_nonce(self, signer: str) -> int | None:
        """The nonce the next intent of ``signer`` will get (None before its first)."""
        return self._stored_next_nonce(signer)

    # -- records -----------------------------------------------------------------------------

    def get(self, tx_id: str) -> TxRecord:
        item = self._client.get_item(
            TableName=self._transactions, Key={"tx_id": {"S": tx_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            raise NotFound("no such transaction", code="transaction_not_found")
        return TxRecord.from_item(_deserialize(item))

    def save(self, record: TxRecord, *, expected_status: tuple[str, ...] = OPEN_STATUSES) -> TxRecord:
        """Write ``record`` back, only if the stored one is still in ``expected_status``.

        Finished records are never rewritten, so a slow worker can't undo a
        confirmation that another worker already saw.
        """
        record.updated_at = int(self._clock())
        values = {f":e{i}": {"S": status} for i, status in enumerate(expected_status)}
        try:
            self._client.put_item(
                TableName=self._transactions,
                Item=_serialize(record.to_item()),
                ConditionExpression=f"#s IN ({', '.join(values)})",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return self.get(record.tx_id)
            raise ChainError("could not update the transaction", code="ledger_unavailable") from exc
        return record

    def open_transactions(self, signer: str) -> list[TxRecord]:
        """Unfinished transactions of ``signer``, lowest nonce first."""
        records: list[TxRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._transactions,
            "IndexName": "open-by-signer",
            "KeyConditionExpression": "open_signer = :s",
            "ExpressionAttributeValues": {":s": {"S": signer}},
        }
        while True:
            page = self._client.query(**kwargs)
            records.extend(TxRecord.from_item(_deserialize(item)) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        # The index is eventually consistent: re-read each record before acting on it.
        fresh = [self.get(r.tx_id) for r in records]
        return sorted((r for r in fresh if r.is_open), key=lambda r: r.nonce)


def _serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items()}


def _deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}
