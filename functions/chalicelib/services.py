"""Builds the domain objects a request needs from the deployment's settings.

Kept apart from ``app.py`` so routes stay a few lines, and apart from the
domain modules so each of those receives its clients instead of making them.
"""

from __future__ import annotations

from . import aws
from .applications.service import ApplicationService
from .applications.store import ApplicationStore
from .capacity import Capacity
from .config import Settings
from .lottery import Lottery
from .mail import Outbox
from .programs import cached_catalogue
from .ratelimit import RateLimiter
from .talents import TalentIdentities


def outbox(settings: Settings) -> Outbox:
    return Outbox(settings, aws.client("dynamodb"), aws.client("ses"), cached_catalogue())


def application_store(settings: Settings) -> ApplicationStore:
    return ApplicationStore(settings, aws.client("dynamodb"))


def applications(settings: Settings) -> ApplicationService:
    return ApplicationService(cached_catalogue(), application_store(settings), outbox(settings))


def capacity(settings: Settings) -> Capacity:
    return Capacity(settings, aws.client("dynamodb"))


def lottery(settings: Settings) -> Lottery:
    return Lottery(
        settings, aws.client("dynamodb"), cached_catalogue(), application_store(settings), outbox(settings),
        capacity(settings), TalentIdentities(aws.client("kms"), settings.talent_key_id),
    )


def application_rate_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(settings, aws.client("dynamodb"), limit=settings.apply_rate_limit,
                       window_seconds=settings.apply_rate_window_seconds)
