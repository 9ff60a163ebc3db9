"""Sending for sponsors and the city through the operator's relayer.

The relayer simulates every call before recording it; a call the contract
would refuse becomes a 409 naming the contract's own error (for example
``ReskillingRightsSoldOut``), so the caller learns why and nothing is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .chain.contracts import decode_revert
from .errors import Conflict, TransactionFailed

if TYPE_CHECKING:
    from .chain.sender import TransactionSender


def send_checked(sender: TransactionSender, *, purpose: str, to: str, data: str) -> Any:
    """Send through the relayer; a simulated revert becomes a 409 naming the contract's error."""
    try:
        return sender.send(purpose=purpose, to=to, data=data)
    except TransactionFailed as exc:
        decoded = decode_revert(exc.details.get("revert_data"))
        reason = decoded[0] if decoded else "reverted"
        raise Conflict(f"the contract refused the transaction ({reason})", code="contract_refused",
                       reason=reason) from exc
