"""Sponsors sign in with their wallet (EIP-4361, Sign-In with Ethereum).

The API hands out a single-use nonce; the wallet signs a SIWE message naming
our domain, the chain, the nonce and an expiry; we verify it with the
``signinwithethereum`` library (EOA and, through the chain, ERC-1271 smart
wallets) and issue a short-lived bearer token. Only a hash of the token is
stored, so a leaked table can't be used to sign in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .config import Settings
from .errors import ManabiError
from .tables import SESSIONS, SIGN_IN_NONCES

NONCE_SECONDS = 600


class Unauthorized(ManabiError):
    """The request needs a valid sign-in."""

    status = 401
    code = "unauthorized"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SignIn:
    def __init__(
        self,
        settings: Settings,
        dynamodb_client: Any,
        *,
        chain_id: Callable[[], int],
        provider: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = dynamodb_client
        self._nonces = SIGN_IN_NONCES.physical_name(settings)
        self._sessions = SESSIONS.physical_name(settings)
        self._domain = settings.site_domain
        self._session_seconds = settings.session_seconds
        self._chain_id = chain_id
        self._provider = provider
        self._clock = clock

    def issue_nonce(self) -> str:
        from siwe import generate_nonce

        nonce = generate_nonce()
        self._client.put_item(
            TableName=self._nonces,
            Item={"nonce": {"S": nonce}, "expires_at": {"N": str(int(self._clock()) + NONCE_SECONDS)}},
            ConditionExpression="attribute_not_exists(nonce)",
        )
        return nonce

    def login(self, message: Any, signature: Any) -> dict[str, Any]:
        """Verify a signed SIWE message and open a session; 401 with a reason code otherwise."""
        from siwe import (
            ChainIdMismatch,
            DomainMismatch,
            ExpiredMessage,
            InvalidSignature,
            NotYetValidMessage,
            SiweMessage,
            VerificationError,
        )

        if not isinstance(message, str) or not isinstance(signature, str) or len(message) > 4096:
            raise Unauthorized("message and signature must be strings", code="malformed_message")
        try:
            siwe = SiweMessage.from_message(message)
        except Exception as exc:  # noqa: BLE001 - the parser raises several types for bad input
            raise Unauthorized("the sign-in message is not a valid EIP-4361 message", code="malformed_message") from exc
        now = dt.datetime.fromtimestamp(self._clock(), dt.timezone.utc)
        reasons = {
            DomainMismatch: "wrong_domain",
            ChainIdMismatch: "wrong_chain",
            ExpiredMessage: "expired_message",
            NotYetValidMessage: "not_yet_valid",
            InvalidSignature: "invalid_signature",
        }
        try:
            siwe.verify(
                signature, domain=self._domain, chain_id=self._chain_id(), nonce=siwe.nonce, timestamp=now,
                provider=self._provider() if self._provider else None,
            )
        except VerificationError as exc:
            code = next((c for t, c in reasons.items() if isinstance(exc, t)), "invalid_signature")
            raise Unauthorized("the sign-in was refused", code=code) from exc
        if siwe.expiration_time is None:
            raise Unauthorized("the sign-in message needs an expiration time", code="malformed_message")
        self._consume_nonce(siwe.nonce)
        token = secrets.token_urlsafe(32)
        expires_at = int(self._clock()) + self._session_seconds
        from eth_utils import to_checksum_address

        # Wallets may sign a lowercase address; the rest of the API compares checksummed ones.
        address = str(to_checksum_address(siwe.address))
        self._client.put_item(
            TableName=self._sessions,
            Item={"token_hash": {"S": _token_hash(token)}, "address": {"S": address},
                  "expires_at": {"N": str(expires_at)}},
        )
        return {
            "token": token,
            "address": address,
            "expires_at": dt.datetime.fromtimestamp(expires_at, dt.timezone.utc).isoformat(),
        }

    def _consume_nonce(self, nonce: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._nonces,
                Key={"nonce": {"S": nonce}},
                ConditionExpression="attribute_exists(nonce) AND expires_at > :now",
                ExpressionAttributeValues={":now": {"N": str(int(self._clock()))}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise Unauthorized("the nonce is unknown, used or expired", code="invalid_nonce") from exc
            raise

    def address_for(self, authorization: str | None) -> str:
        """The signed-in wallet for an ``Authorization: Bearer`` header."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("sign in with your wallet first", code="session_required")
        item = self._client.get_item(
            TableName=self._sessions, Key={"token_hash": {"S": _token_hash(authorization[7:].strip())}},
            ConsistentRead=True,
        ).get("Item")
        if item is None or int(item["expires_at"]["N"]) <= int(self._clock()):
            raise Unauthorized("the session has ended; sign in again", code="session_expired")
        return item["address"]["S"]

    def logout(self, authorization: str | None) -> None:
        if authorization and authorization.startswith("Bearer "):
            self._client.delete_item(
                TableName=self._sessions, Key={"token_hash": {"S": _token_hash(authorization[7:].strip())}}
            )
