"""The outbox: every e-mail to an applicant is stored first, then sent, then retried.

A message is written in the same DynamoDB transaction as the state change it
announces (an application, a lottery result), so it can't be lost. Sending
claims the message with a short lease, so two workers never send it twice, and
a failure only schedules another attempt. After ``MAX_ATTEMPTS`` the message is
``failed`` and staff see it in the application list.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .config import Settings
from .dynamo import deserialize, query_all
from .programs import Catalogue
from .tables import APPLICATIONS, OUTBOX
from .mail_templates import TEMPLATES, render

logger = logging.getLogger("manabi.mail")

MAX_ATTEMPTS = 8
LEASE_SECONDS = 120


def backoff_seconds(attempts: int) -> int:
    """1, 2, 4 … minutes, at most six hours, between attempts."""
    return min(60 * 2 ** max(attempts - 1, 0), 6 * 3600)


class Outbox:
    def __init__(
        self,
        settings: Settings,
        dynamodb_client: Any,
        ses_client: Any,
        catalogue: Catalogue,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = dynamodb_client
        self._ses = ses_client
        self._table = OUTBOX.physical_name(settings)
        self._applications = APPLICATIONS.physical_name(settings)
        self._sender = settings.mail_sender
        self._catalogue = catalogue
        self._clock = clock

    def put_request(self, application_id: str, template: str) -> tuple[str, dict[str, Any]]:
        """(message id, a TransactWriteItems ``Put``) that queues ``template`` for the application."""
        if template not in TEMPLATES:
            raise ValueError(f"unknown mail template {template!r}")
        now = int(self._clock())
        message_id = "msg_" + secrets.token_hex(12)
        return message_id, {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "message_id": {"S": message_id},
                    "application_id": {"S": application_id},
                    "template": {"S": template},
                    "status": {"S": "pending"},
                    "attempts": {"N": "0"},
                    "created_at": {"N": str(now)},
                    "next_attempt_at": {"N": str(now)},
                    "due": {"S": "due"},
                },
                "ConditionExpression": "attribute_not_exists(message_id)",
            }
        }

    def deliver(self, message_id: str) -> str:
        """Try to send one message now. Returns its status; never raises for a mail failure."""
        now = int(self._clock())
        try:
            claimed = self._client.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                UpdateExpression="SET lease_until = :lease",
                ConditionExpression="#s = :pending AND (attribute_not_exists(lease_until) OR lease_until < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":lease": {"N": str(now + LEASE_SECONDS)},
                    ":pending": {"S": "pending"},
                    ":now": {"N": str(now)},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return "claimed_elsewhere"
            raise
        message = deserialize(claimed)
        try:
            self._send(message)
        except (ClientError, BotoCoreError) as exc:
            return self._record_failure(message, _error_code(exc))
        self._client.update_item(
            TableName=self._table,
            Key={"message_id": {"S": message_id}},
            UpdateExpression="SET #s = :sent, sent_at = :now, attempts = attempts + :one REMOVE due, lease_until, last_error",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":sent": {"S": "sent"}, ":now": {"N": str(now)}, ":one": {"N": "1"}},
        )
        return "sent"

    def _send(self, message: dict[str, Any]) -> None:
        item = self._client.get_item(
            TableName=self._applications, Key={"application_id": {"S": message["application_id"]}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            raise ClientError({"Error": {"Code": "ApplicationMissing", "Message": ""}}, "GetItem")
        application = deserialize(item)
        program = self._catalogue.program(application["program_id"])
        if program is None:
            raise ClientError({"Error": {"Code": "ProgramMissing", "Message": ""}}, "GetItem")
        subject, body = render(message["template"], application, program, self._catalogue.city)
        self._ses.send_email(
            Source=self._sender,
            Destination={"ToAddresses": [application["email"]]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
            },
        )

    def _record_failure(self, message: dict[str, Any], error_code: str) -> str:
        attempts = int(message["attempts"]) + 1
        now = int(self._clock())
        # Only the error code is kept and logged: messages may echo the address.
        logger.warning("mail not sent", extra={"message_id": message["message_id"], "error": error_code,
                                               "attempts": attempts})
        if attempts >= MAX_ATTEMPTS:
            update = "SET #s = :failed, attempts = :n, last_error = :e REMOVE due, lease_until"
            values = {":failed": {"S": "failed"}, ":n": {"N": str(attempts)}, ":e": {"S": error_code}}
            status = "failed"
        else:
            update = "SET attempts = :n, last_error = :e, next_attempt_at = :next REMOVE lease_until"
            values = {":n": {"N": str(attempts)}, ":e": {"S": error_code},
                      ":next": {"N": str(now + backoff_seconds(attempts))}}
            status = "pending"
        kwargs: dict[str, Any] = {"ExpressionAttributeValues": values}
        if "#s" in update:
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
        self._client.update_item(
            TableName=self._table, Key={"message_id": {"S": message["message_id"]}}, UpdateExpression=update,
            **kwargs,
        )
        return status

    def deliver_due(self, limit: int = 200) -> dict[str, int]:
        """Send every message whose next attempt is due (the scheduled mail job)."""
        now = int(self._clock())
        counts = {"sent": 0, "pending": 0, "failed": 0, "claimed_elsewhere": 0}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "due",
            "KeyConditionExpression": "due = :due AND next_attempt_at <= :now",
            "ExpressionAttributeValues": {":due": {"S": "due"}, ":now": {"N": str(now)}},
            "Limit": limit,
        }
        page = self._client.query(**kwargs)
        for item in page["Items"]:
            counts[self.deliver(item["message_id"]["S"])] += 1
        return counts

    def for_application(self, application_id: str) -> list[dict[str, Any]]:
        """The application's messages, oldest first: template, status, attempts, last error."""
        messages = query_all(
            self._client,
            TableName=self._table,
            IndexName="by-application",
            KeyConditionExpression="application_id = :a",
            ExpressionAttributeValues={":a": {"S": application_id}},
        )
        return [{"template": m["template"], "status": m["status"], "attempts": m["attempts"],
                 "last_error": m.get("last_error")} for m in messages]


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
