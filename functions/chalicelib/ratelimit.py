"""Fixed-window request limits per client, counted in DynamoDB.

Generous by design: a community centre or a city office may send many
applications from one address. Only a hash of the client address is stored.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .config import Settings
from .errors import ManabiError
from .tables import RATE_LIMITS


class TooManyRequests(ManabiError):
    """The client sent too many requests in a short time."""

    status = 429
    code = "too_many_requests"


class RateLimiter:
    def __init__(
        self,
        settings: Settings,
        dynamodb_client: Any,
        *,
        limit: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window_seconds must be positive")
        self._client = dynamodb_client
        self._table = RATE_LIMITS.physical_name(settings)
        self._limit = limit
        self._window = window_seconds
        self._clock = clock

    def hit(self, scope: str, client_id: str) -> None:
        """Count one request; raises :class:`TooManyRequests` past the limit."""
        now = int(self._clock())
        window_start = now - now % self._window
        digest = hashlib.sha256(client_id.encode()).hexdigest()[:24]
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"bucket": {"S": f"{scope}#{digest}#{window_start}"}},
                UpdateExpression="ADD hits :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self._limit)},
                    ":expires": {"N": str(window_start + 2 * self._window)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            retry_after = window_start + self._window - now
            raise TooManyRequests(
                "短い時間に多くの送信がありました。しばらく待ってから、もう一度お試しください。",
                retry_after=max(retry_after, 1),
            ) from exc
