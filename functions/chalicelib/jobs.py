"""Scheduled jobs, callable from Chalice schedules and from the local stack's scheduler."""

from __future__ import annotations

import logging
from typing import Any

from .config import Settings

logger = logging.getLogger("manabi.jobs")


def run_relayer_tick(settings: Settings) -> dict[str, Any]:
    """Finish the operator's unfinished transactions; returns counts for the log."""
    from .chain.operator import operator_sender
    from .errors import ChainError

    sender = operator_sender(settings)
    counts: dict[str, Any] = sender.tick().counts()
    if any(counts.values()):
        logger.info("relayer tick", extra=counts)
    try:
        # Warns (log and the ManabiRelay/OperatorBalanceLow metric) before gas runs out.
        counts["gas_low"] = sender.check_gas_funds(settings.relayer.min_operator_balance_wei)["low"]
    except ChainError:
        counts["gas_low"] = None
    return counts
