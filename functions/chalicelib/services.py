"""Builds the domain objects a request needs from the deployment's settings.

Kept apart from ``app.py`` so routes stay a few lines, and apart from the
domain modules so each of those receives its clients instead of making them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from .auth import SignIn
    from .lending import Lending
    from .purchases import Purchases
    from .sponsors import SponsorDashboard


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


def sign_in(settings: Settings) -> SignIn:
    from .auth import SignIn
    from .chain.provider import web3_for

    def chain_id() -> int:
        return settings.chain_id or int(web3_for(settings).eth.chain_id)

    return SignIn(settings, aws.client("dynamodb"), chain_id=chain_id,
                  provider=lambda: web3_for(settings).provider)


class Chain:
    """The deployment's contracts and relayer, built on first use of a chain route."""

    def __init__(self, settings: Settings) -> None:
        from .chain.contracts import contract
        from .chain.jpyc import Jpyc
        from .chain.operator import operator_sender
        from .chain.provider import web3_for

        self.settings = settings
        self.w3 = web3_for(settings)
        self.rights = contract(self.w3, "ReskillingRights", settings.contracts.rights)
        self.jpyc_contract = contract(self.w3, "TestJPYC", settings.contracts.jpyc)  # ERC-20 + permit subset
        self.jpyc = Jpyc(self.w3, self.jpyc_contract)
        self.distributor = contract(self.w3, "PayoutDistributor", settings.contracts.distributor)
        self.sender = operator_sender(settings)

    def purchases(self) -> Purchases:
        from .purchases import Purchases

        return Purchases(cached_catalogue(), self.rights, self.jpyc, self.sender)

    def lending(self) -> Lending:
        from .chain.transactions import TransactionStore
        from .lending import Lending

        return Lending(cached_catalogue(), application_store(self.settings), self.rights, self.sender,
                       TransactionStore(self.settings, aws.client("dynamodb")))

    def dashboard(self) -> SponsorDashboard:
        from .sponsors import SponsorDashboard

        return SponsorDashboard(self.w3, self.rights, self.jpyc, self.jpyc_contract, self.distributor)
