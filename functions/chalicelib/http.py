"""The one place where domain errors become HTTP responses.

Every error body has the same shape::

    {"error": {"code": "<reason code>", "message": "<text>"}}

and validation errors (422) add ``"errors": [{"field", "message"}]``.
"""

from __future__ import annotations

import functools
import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

from chalice import Response
from chalice.app import Request

from .errors import BadRequest, InvalidInput, ManabiError, PayloadTooLarge, UnsupportedMediaType

logger = logging.getLogger("manabi.http")

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers={**JSON_HEADERS, **(headers or {})},
    )


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, **extra}


def error_response(exc: Exception) -> Response:
    """The response for ``exc``; unknown exceptions become a 500 without internals."""
    if isinstance(exc, ManabiError):
        # Only details meant for clients; others (revert data, internals) stay server-side.
        extra = {k: exc.details[k] for k in ("errors", "reason", "available") if k in exc.details}
        headers = {}
        if "retry_after" in exc.details:
            headers["Retry-After"] = str(exc.details["retry_after"])
        if exc.status >= 500:
            logger.error("request failed", extra={"code": exc.code, "error_type": type(exc).__name__})
        return json_response(error_body(exc.code, exc.message, **extra), exc.status, headers)
    # The type and the frames, never the message: it may carry request data.
    logger.error("unexpected error", extra={"error_type": type(exc).__name__,
                                            "frames": traceback.format_tb(exc.__traceback__)[-5:]})
    return json_response(error_body("internal_error", "内部エラーが発生しました。時間をおいてもう一度お試しください。"), 500)


def handled(view: Callable[..., Any]) -> Callable[..., Any]:
    """Route decorator: any exception becomes :func:`error_response` (Chalice would send a bare 500)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the API never leaks a stack trace
            return error_response(exc)

    return wrapper


# Chalice answers other content types itself, in its own shape; routes that take
# a body list these so that *we* answer, with our shape and in Japanese.
ANY_BODY = [
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/octet-stream",
]


def json_object(request: Request, *, max_bytes: int = 16 * 1024) -> dict[str, Any]:
    """The request's JSON object body, or the right 4xx error."""
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("Content-Type: application/json で送信してください。")
    raw = request.raw_body or b""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"送信内容が大きすぎます（上限 {max_bytes // 1024} KB）。")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest("送信内容を読み取れませんでした。", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise InvalidInput("送信内容を読み取れませんでした。", errors=[{"field": "body", "message": "JSONオブジェクトで送信してください"}])
    return body


def client_id(request: Request) -> str:
    """The client's address as API Gateway saw it (for rate limits only; never logged)."""
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def csv_response(body: str, filename: str) -> Response:
    """UTF-8 with a BOM, so Excel on Windows opens Japanese text correctly."""
    return Response(
        body="\ufeff" + body,
        status_code=200,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
