"""DynamoDB tables: names, keys and indexes, defined once.

The app reads them through :func:`table`; the local stack and the tests create
them with :func:`create_all`; deployment turns the same definitions into
CloudFormation resources with :func:`cloudformation_resources`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import aws
from .config import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None = None


@dataclass(frozen=True)
class TableSpec:
    """One table. Key tuples are (attribute name, DynamoDB type: S or N)."""

    logical_name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    purpose: str = ""
    holds_personal_data: bool = False

    def physical_name(self, settings: Settings) -> str:
        return f"{settings.table_prefix}{self.logical_name}"

    def _attributes(self) -> list[dict[str, str]]:
        seen: dict[str, str] = {}
        for key in (self.hash_key, self.range_key):
            if key:
                seen[key[0]] = key[1]
        for index in self.indexes:
            for key in (index.hash_key, index.range_key):
                if key:
                    seen[key[0]] = key[1]
        return [{"AttributeName": n, "AttributeType": t} for n, t in seen.items()]

    @staticmethod
    def _key_schema(hash_key: tuple[str, str], range_key: tuple[str, str] | None) -> list[dict[str, str]]:
        schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
        if range_key:
            schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        return schema

    def create_table_kwargs(self, settings: Settings) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": self.physical_name(settings),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": self._attributes(),
            "KeySchema": self._key_schema(self.hash_key, self.range_key),
        }
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index.name,
                    "KeySchema": self._key_schema(index.hash_key, index.range_key),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in self.indexes
            ]
        return kwargs


TRANSACTIONS = TableSpec(
    logical_name="transactions",
    hash_key=("tx_id", "S"),
    # Sparse: only unfinished transactions carry ``open_signer``, so the relayer
    # tick reads exactly the work left to do, in nonce order.
    indexes=(Index("open-by-signer", ("open_signer", "S"), ("nonce", "N")),),
    purpose="Every transaction the relayer intends, signs, broadcasts and confirms.",
)

SIGNERS = TableSpec(
    logical_name="signers",
    hash_key=("signer", "S"),
    purpose="The next nonce of each KMS signer address, and which record holds each allocated nonce.",
)

IDEMPOTENCY = TableSpec(
    logical_name="idempotency",
    hash_key=("id", "S"),
    ttl_attribute="expiration",
    purpose="Results of requests carrying an Idempotency-Key (Powertools idempotency layout).",
)

APPLICATIONS = TableSpec(
    logical_name="applications",
    hash_key=("application_id", "S"),
    # Guard items (duplicate e-mail, receipt number) share the table but carry
    # no ``program_id``, so the index lists applications only.
    indexes=(Index("by-program", ("program_id", "S"), ("submitted_at", "S")),),
    purpose="Citizens' applications (personal data: name, contact, address, family, motivation).",
    holds_personal_data=True,
)

OUTBOX = TableSpec(
    logical_name="outbox",
    hash_key=("message_id", "S"),
    indexes=(
        # Sparse: only messages still to be sent carry ``due``.
        Index("due", ("due", "S"), ("next_attempt_at", "N")),
        Index("by-application", ("application_id", "S"), ("created_at", "N")),
    ),
    purpose="E-mails to applicants, kept until sent so a failed send is retried, never lost.",
)

RATE_LIMITS = TableSpec(
    logical_name="rate_limits",
    hash_key=("bucket", "S"),
    ttl_attribute="expires_at",
    purpose="Request counts per client per time window (hashed client address only).",
)

LOTTERIES = TableSpec(
    logical_name="lotteries",
    hash_key=("program_id", "S"),
    purpose="Seed commitments, draws and published results, by receipt number.",
)

PROGRAM_SETTINGS = TableSpec(
    logical_name="program_settings",
    hash_key=("program_id", "S"),
    purpose="Changes staff make to a programme after launch (capacity).",
)

SIGN_IN_NONCES = TableSpec(
    logical_name="sign_in_nonces",
    hash_key=("nonce", "S"),
    ttl_attribute="expires_at",
    purpose="Single-use nonces for Sign-In with Ethereum (EIP-4361).",
)

SESSIONS = TableSpec(
    logical_name="sessions",
    hash_key=("token_hash", "S"),
    ttl_attribute="expires_at",
    purpose="Sponsors' short-lived sessions: a hash of the bearer token and the wallet address.",
)

ALL_TABLES: tuple[TableSpec, ...] = (
    TRANSACTIONS, SIGNERS, IDEMPOTENCY, APPLICATIONS, OUTBOX, RATE_LIMITS, LOTTERIES, PROGRAM_SETTINGS,
    SIGN_IN_NONCES, SESSIONS,
)


def table(spec: TableSpec, settings: Settings) -> Table:
    """The boto3 Table for ``spec`` in this deployment."""
    return aws.dynamodb().Table(spec.physical_name(settings))


def create_all(settings: Settings, dynamodb_client: Any | None = None) -> list[str]:
    """Create every table that does not exist yet (local stack and tests). Returns the names created."""
    client = dynamodb_client or aws.client("dynamodb")
    existing = set(client.list_tables()["TableNames"])
    created = []
    for spec in ALL_TABLES:
        name = spec.physical_name(settings)
        if name in existing:
            continue
        client.create_table(**spec.create_table_kwargs(settings))
        if spec.ttl_attribute:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        created.append(name)
    return created


def cloudformation_resources(settings: Settings) -> dict[str, Any]:
    """The tables as CloudFormation resources, for merging into Chalice's SAM template."""
    resources: dict[str, Any] = {}
    for spec in ALL_TABLES:
        props = spec.create_table_kwargs(settings)
        props["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
        props["SSESpecification"] = {"SSEEnabled": True}
        if spec.ttl_attribute:
            props["TimeToLiveSpecification"] = {"Enabled": True, "AttributeName": spec.ttl_attribute}
        logical_id = "Table" + "".join(part.title() for part in spec.logical_name.split("_"))
        resources[logical_id] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": props,
        }
    return resources
