"""Data access for applications: one item per application, plus guard items.

Guard items make the rules that must hold across items atomic: one
application per e-mail address and programme, and unique receipt numbers.
They are written in the same transaction as the application.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from ..config import Settings
from ..dynamo import deserialize as _deserialize
from ..dynamo import query_all
from ..dynamo import serialize as _serialize
from ..dynamo import serialize_value
from ..errors import Conflict, NotFound
from ..tables import APPLICATIONS


class ReceiptNumberTaken(Exception):
    """The random receipt number collided; pick another."""


def email_guard_id(program_id: str, email: str) -> str:
    digest = hashlib.sha256(email.lower().encode()).hexdigest()
    return f"guard#email#{program_id}#{digest}"


def receipt_guard_id(receipt_number: str) -> str:
    return f"guard#receipt#{receipt_number}"


class ApplicationStore:
    def __init__(self, settings: Settings, dynamodb_client: Any) -> None:
        self._client = dynamodb_client
        self._table = APPLICATIONS.physical_name(settings)

    def create(self, item: dict[str, Any], extra_writes: Sequence[dict[str, Any]] = ()) -> None:
        """Write the application, its guards and ``extra_writes`` in one transaction.

        Raises Conflict(duplicate_application) when the e-mail address already
        applied to this programme, ReceiptNumberTaken on a receipt collision.
        """
        guard = {"ConditionExpression": "attribute_not_exists(application_id)"}
        writes = [
            {"Put": {"TableName": self._table, "Item": _serialize(item), **guard}},
            {"Put": {"TableName": self._table, "Item": _serialize({
                "application_id": email_guard_id(item["program_id"], item["email"]),
                "guards": item["application_id"]}), **guard}},
            {"Put": {"TableName": self._table, "Item": _serialize({
                "application_id": receipt_guard_id(item["receipt_number"]),
                "guards": item["application_id"]}), **guard}},
            *extra_writes,
        ]
        try:
            self._client.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise Conflict(
                    "このメールアドレスでは、すでにこの講座にお申し込みいただいています。",
                    code="duplicate_application",
                ) from exc
            if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                raise ReceiptNumberTaken from exc
            raise

    def get(self, application_id: str) -> dict[str, Any]:
        if application_id.startswith("guard#"):
            raise NotFound("no such application", code="application_not_found")
        item = self._client.get_item(
            TableName=self._table, Key={"application_id": {"S": application_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            raise NotFound("no such application", code="application_not_found")
        return _deserialize(item)

    def list_for_program(self, program_id: str) -> list[dict[str, Any]]:
        """Every application to ``program_id``, oldest first."""
        return query_all(
            self._client,
            TableName=self._table,
            IndexName="by-program",
            KeyConditionExpression="program_id = :p",
            ExpressionAttributeValues={":p": {"S": program_id}},
        )

    def update_status(
        self, application_id: str, *, expected: tuple[str, ...], status: str, fields: dict[str, Any] | None = None,
        extra_writes: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Move an application to ``status`` if it is still in one of ``expected``."""
        sets = {"status": status, **(fields or {})}
        names = {f"#f{i}": name for i, name in enumerate(sets)}
        values = {f":v{i}": serialize_value(value) for i, value in enumerate(sets.values())}
        values.update({f":e{i}": {"S": s} for i, s in enumerate(expected)})
        names["#status"] = "status"
        update = {
            "Update": {
                "TableName": self._table,
                "Key": {"application_id": {"S": application_id}},
                "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sets))),
                "ConditionExpression": f"#status IN ({', '.join(f':e{i}' for i in range(len(expected)))})",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        try:
            self._client.transact_write_items(TransactItems=[update, *extra_writes])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise Conflict("the application changed meanwhile; reload and try again",
                               code="status_conflict") from exc
            raise


    def set_fields(self, application_id: str, fields: dict[str, Any]) -> None:
        """Set ``fields`` on an existing application."""
        update = _set_fields_update(self._table, application_id, fields)
        update["ConditionExpression"] = "attribute_exists(application_id)"
        try:
            self._client.update_item(**update)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound("no such application", code="application_not_found") from exc
            raise

    def claim_talent(self, application_id: str, previous: dict[str, Any] | None, lending: dict[str, Any]) -> bool:
        """Set the talent's ``lending`` only if nobody changed it since we read ``previous``."""
        version = int((previous or {}).get("version", 0))
        update = _set_fields_update(self._table, application_id, {"lending": {**lending, "version": version + 1}})
        if version == 0:
            update["ConditionExpression"] = "attribute_not_exists(lending.version)"
        else:
            update["ConditionExpression"] = "lending.version = :expected"
            update["ExpressionAttributeValues"][":expected"] = {"N": str(version)}
        try:
            self._client.update_item(**update)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _set_fields_update(table: str, application_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":v{i}": serialize_value(value) for i, value in enumerate(fields.values())}
    return {
        "TableName": table,
        "Key": {"application_id": {"S": application_id}},
        "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
