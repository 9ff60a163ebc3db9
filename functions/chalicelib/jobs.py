"""Scheduled jobs, callable from Chalice schedules and from the local stack's scheduler."""

from __future__ import annotations

import logging
from typing import Any

from .config import Settings

logger = logging.getLogger("manabi.jobs")


def run_relayer_tick(settings: Settings) -> dict[str, Any]:
    """Finish the operator's unfinished transactions; returns counts for the log."""
    from .chain.operator import operator_sender

    report = operator_sender(settings).tick()
    counts = {
        "broadcast": len(report.broadcast),
        "confirmed": len(report.confirmed),
        "failed": len(report.failed),
        "waiting": len(report.waiting),
    }
    if any(counts.values()):
        logger.info("relayer tick", extra=counts)
    return counts
