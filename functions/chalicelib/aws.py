"""Lazily built boto3 clients, one per service per container.

Building a client costs tens of milliseconds, so routes build them on first use
rather than at import. ``AWS_ENDPOINT_URL`` (honoured by boto3 itself) points
them at moto in the local stack and tests.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource

_lock = threading.Lock()
_clients: dict[str, Any] = {}

# KmsSigner retries throttling itself, with backoff and a count of its calls;
# botocore retrying underneath would multiply attempts and hide them.
_RETRIES = {"kms": {"mode": "standard", "total_max_attempts": 1}}


def client(service: str) -> Any:
    """A shared boto3 client for ``service`` (boto3 clients are thread safe)."""
    with _lock:
        if service not in _clients:
            import boto3
            from botocore.config import Config

            retries = _RETRIES.get(service, {"mode": "standard"})
            _clients[service] = boto3.session.Session().client(service, config=Config(retries=retries))
        return _clients[service]


_local = threading.local()


def dynamodb() -> DynamoDBServiceResource:
    """A DynamoDB resource for this thread: boto3 resources, unlike clients, are not thread safe."""
    resource = getattr(_local, "dynamodb", None)
    if resource is None or getattr(_local, "generation", None) != _generation[0]:
        import boto3

        resource = boto3.session.Session().resource("dynamodb")
        _local.dynamodb = resource
        _local.generation = _generation[0]
    return resource


_generation = [0]


def reset() -> None:
    """Forget every client, e.g. after the local stack or a test changes the endpoint."""
    with _lock:
        _clients.clear()
        _generation[0] += 1
