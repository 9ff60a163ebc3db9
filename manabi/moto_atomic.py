"""Make moto's DynamoDB writes atomic, as DynamoDB's are.

DynamoDB evaluates a condition expression and applies the write as one atomic
step per item (and per transaction for ``TransactWriteItems``). moto checks
and writes in plain Python without a lock, so two threads — the local stack's
HTTP threads, or a concurrency test — can both pass the same condition. Our
nonce allocation and exactly-once guarantees rest on those conditions, so the
local stack and the tests serialise moto's DynamoDB writes with one lock.

Only test and local code imports this; production talks to real DynamoDB.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_WRITE_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items")
_lock = threading.RLock()
_applied = False


def apply_dynamodb_atomic_writes() -> None:
    """Wrap moto's DynamoDB write methods in one lock (idempotent)."""
    global _applied
    with _lock:
        if _applied:
            return
        from moto.dynamodb.models import DynamoDBBackend

        for name in _WRITE_METHODS:
            original = getattr(DynamoDBBackend, name)

            @functools.wraps(original)
            def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                with _lock:
                    return __original(self, *args, **kwargs)

            setattr(DynamoDBBackend, name, locked)
        _applied = True
