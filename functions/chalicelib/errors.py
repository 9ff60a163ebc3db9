"""Every error the domain raises, in one place.

Each error carries a stable machine-readable ``code`` and the HTTP status the API
answers with. ``chalicelib.http`` turns them into JSON responses; nothing else
needs to know about status codes.
"""

from __future__ import annotations

from typing import Any


class ManabiError(Exception):
    """Base class: a known failure with a reason code the API can report."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str = "", *, code: str | None = None, **details: Any) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code
        self.details = details

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigurationError(ManabiError):
    """The deployment is misconfigured."""

    code = "configuration_error"


class ChainError(ManabiError):
    """The chain (JSON-RPC node or embedded EVM) failed or refused a call."""

    status = 502
    code = "chain_error"


class SignerError(ChainError):
    """The KMS-backed signer could not produce a signature."""

    code = "signer_error"


class TransactionFailed(ChainError):
    """A transaction was mined but reverted, or could not be sent at all."""

    code = "transaction_failed"


class NotFound(ManabiError):
    """The thing asked for does not exist."""

    status = 404
    code = "not_found"


class Conflict(ManabiError):
    """The request clashes with the current state."""

    status = 409
    code = "conflict"


class InvalidInput(ManabiError):
    """The request is malformed; ``details['errors']`` lists the fields."""

    status = 422
    code = "invalid_input"


class BadRequest(ManabiError):
    """The request body could not be read."""

    status = 400
    code = "bad_request"


class PayloadTooLarge(ManabiError):
    """The request body is larger than the route accepts."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ManabiError):
    """The route takes ``application/json`` only."""

    status = 415
    code = "unsupported_media_type"
