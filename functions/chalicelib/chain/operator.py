"""The city's operator: the KMS key that deploys, mints, lends and settles.

Builds the :class:`TransactionSender` for the configured KMS key once per
container; the signer caches its address, so GetPublicKey runs once.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .. import aws
from ..config import Settings
from .provider import web3_for
from .sender import TransactionSender
from .transactions import TransactionStore

if TYPE_CHECKING:
    from .kms_signer import KmsSigner

_lock = threading.Lock()
_senders: dict[tuple[str, str, str], TransactionSender] = {}


def operator_signer(settings: Settings) -> KmsSigner:
    from .kms_signer import KmsSigner

    return KmsSigner(aws.client("kms"), settings.operator_key_id)


def operator_sender(settings: Settings) -> TransactionSender:
    """The operator's sender for this deployment (cached per container)."""
    key = (settings.rpc_url, settings.operator_key_id, settings.table_prefix)
    with _lock:
        sender = _senders.get(key)
        if sender is None:
            sender = TransactionSender(
                web3_for(settings),
                operator_signer(settings),
                TransactionStore(settings, aws.client("dynamodb")),
                fees=settings.fees,
                confirmations=settings.confirmations,
                stuck_after_seconds=settings.relayer.stuck_after_seconds,
                resend_after_seconds=settings.relayer.resend_after_seconds,
                fee_bump_percent=settings.relayer.fee_bump_percent,
                nonce_consumed_grace_seconds=settings.relayer.nonce_consumed_grace_seconds,
                max_gap_fill=settings.relayer.max_gap_fill,
                rpc_attempts=settings.relayer.rpc_attempts,
            )
            _senders[key] = sender
        return sender


def reset() -> None:
    """Forget cached senders (tests and the local stack, when the endpoints change)."""
    with _lock:
        _senders.clear()
