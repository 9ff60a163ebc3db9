"""Plain Python values to and from DynamoDB's attribute-value format.

We store integers only (amounts in base units, counts, timestamps), so numbers
come back as ``int``, never ``Decimal``.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def serialize_value(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """An item for the low-level client; ``None`` values are left out."""
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return plain({k: _deserializer.deserialize(v) for k, v in item.items()})


def plain(value: Any) -> Any:
    """DynamoDB numbers (Decimal) back to ints, recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, float, bool)):
        return int(value)
    return value


def query_all(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item a ``Query`` matches, across pages, deserialised."""
    items: list[dict[str, Any]] = []
    while True:
        page = client.query(**kwargs)
        items.extend(deserialize(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}
