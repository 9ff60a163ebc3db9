"""What ``GET /health`` reports: is the chain reachable, and which contracts and key are in use."""

from __future__ import annotations

from typing import Any

from .config import Settings
from .errors import ChainError


def chain_health(settings: Settings) -> dict[str, Any]:
    """Chain id, latest block, contract addresses, the operator's address and gas balance."""
    from .chain.operator import operator_sender

    sender = operator_sender(settings)
    w3 = sender.w3
    try:
        chain_id = int(w3.eth.chain_id)
        block_number = int(w3.eth.block_number)
        balance = int(w3.eth.get_balance(sender.address))
    except Exception as exc:  # noqa: BLE001 - any RPC failure means "unhealthy"
        raise ChainError("the chain is not reachable", code="chain_unreachable") from exc
    if settings.chain_id and settings.chain_id != chain_id:
        raise ChainError(
            f"connected to chain {chain_id}, configured for {settings.chain_id}", code="wrong_chain"
        )
    return {
        "status": "ok",
        "stage": settings.stage,
        "chain_id": chain_id,
        "block_number": block_number,
        "contracts": settings.contracts.as_dict(),
        "operator": {"address": sender.address, "balance_wei": str(balance)},
    }
