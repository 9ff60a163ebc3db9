"""Structured JSON logs (Powertools' formatter) for every ``manabi.*`` logger.

Log records carry codes, ids and counts only. Never pass personal data
(names, contacts, addresses, request bodies) or client addresses to a logger:
CloudWatch keeps logs longer than the data's purpose needs them.
"""

from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None) -> None:
    """Send ``manabi.*`` records to stdout as JSON lines (idempotent)."""
    root = logging.getLogger("manabi")
    if any(getattr(h, "_manabi", False) for h in root.handlers):
        return
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(LambdaPowertoolsFormatter(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "manabi-relay")))
    handler._manabi = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("MANABI_LOG_LEVEL", "INFO"))
    root.propagate = False
