"""Seats per programme: the catalogue's number, unless staff changed it since."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .config import Settings
from .errors import InvalidInput
from .programs import Program
from .tables import PROGRAM_SETTINGS


class Capacity:
    def __init__(self, settings: Settings, dynamodb_client: Any) -> None:
        self._client = dynamodb_client
        self._table = PROGRAM_SETTINGS.physical_name(settings)

    def of(self, program: Program) -> int:
        item = self._client.get_item(
            TableName=self._table, Key={"program_id": {"S": program.id}}, ConsistentRead=True
        ).get("Item")
        return int(item["capacity"]["N"]) if item and "capacity" in item else program.capacity

    def set(self, program: Program, capacity: Any) -> int:
        """Change the seats (Ikoma went from 30 to 36); returns the new number."""
        if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= 10_000:
            raise InvalidInput("capacity must be an integer from 1 to 10000", code="invalid_capacity",
                               errors=[{"field": "capacity", "message": "定員は1以上の整数で入力してください"}])
        self._client.update_item(
            TableName=self._table,
            Key={"program_id": {"S": program.id}},
            UpdateExpression="SET #capacity = :c, capacity_changed_at = :t",
            ExpressionAttributeNames={"#capacity": "capacity"},
            ExpressionAttributeValues={
                ":c": {"N": str(capacity)},
                ":t": {"S": dt.datetime.now(dt.timezone.utc).isoformat()},
            },
        )
        return capacity
