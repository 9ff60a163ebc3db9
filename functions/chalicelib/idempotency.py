"""``Idempotency-Key`` support: a repeated request gets the first request's result.

Built on Powertools' idempotency utility with its DynamoDB persistence layer:
it claims the key with a conditional write, stores the result, expires it
after a day, and refuses the same key with a different payload. Only a hash
of the payload is stored, never the payload itself (it may be personal data).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import aws
from .config import Settings
from .errors import Conflict, InvalidInput
from .tables import IDEMPOTENCY

_KEY = re.compile(r"^[A-Za-z0-9_\-:.]{8,128}$")
EXPIRES_AFTER_SECONDS = 24 * 3600


def run_once(
    settings: Settings,
    *,
    scope: str,
    key: str | None,
    payload: Any,
    work: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> dict[str, Any]:
    """Run ``work`` once per (``scope``, ``key``); repeats return its stored result.

    Without a key, ``work`` simply runs. Errors raised by ``work`` are not
    stored, so a retry after a failure runs again.
    """
    if key is None:
        return work()
    if not _KEY.match(key):
        raise InvalidInput(
            "Idempotency-Key must be 8-128 characters of letters, digits, - _ : .",
            code="invalid_idempotency_key",
        )
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    persistence = DynamoDBPersistenceLayer(
        table_name=IDEMPOTENCY.physical_name(settings), boto3_client=aws.client("dynamodb")
    )
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="payload",
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        use_local_cache=False,
    )
    if lambda_context is not None and hasattr(lambda_context, "get_remaining_time_in_millis"):
        # Lets a claim left by a crashed invocation expire with that invocation.
        config.register_lambda_context(lambda_context)

    @idempotent_function(
        data_keyword_argument="request", persistence_store=persistence, config=config, key_prefix=scope
    )
    def once(request: dict[str, Any]) -> dict[str, Any]:
        return work()

    try:
        return once(request={"key": key, "payload": payload})
    except IdempotencyValidationError as exc:
        raise InvalidInput(
            "this Idempotency-Key was used with a different request", code="idempotency_key_reused"
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict("the same request is still being processed", code="request_in_progress",
                       retry_after=2) from exc
