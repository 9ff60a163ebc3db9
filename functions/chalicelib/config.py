"""Deployment settings, read from environment variables.

Chalice puts ``environment_variables`` from ``.chalice/config.json`` into the
Lambda environment; ``manabi dev`` sets the same variables for the local stack.
Nothing here performs I/O beyond reading ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ConfigurationError

GWEI = 10**9


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class ContractAddresses:
    jpyc: str = ""
    rights: str = ""
    distributor: str = ""
    anchor: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "jpyc": self.jpyc,
            "rights": self.rights,
            "distributor": self.distributor,
            "anchor": self.anchor,
        }


@dataclass(frozen=True)
class FeePolicy:
    """EIP-1559 fee limits. Amounts are in wei."""

    max_fee_per_gas_cap: int = 500 * GWEI
    priority_fee: int = 30 * GWEI
    gas_headroom_percent: int = 25


@dataclass(frozen=True)
class RelayerPolicy:
    """When the relayer resends, replaces and repairs; see chalicelib.chain.sender."""

    stuck_after_seconds: int = 25
    resend_after_seconds: int = 10
    fee_bump_percent: int = 10
    nonce_consumed_grace_seconds: int = 30
    max_gap_fill: int = 16
    rpc_attempts: int = 4
    min_operator_balance_wei: int = 5 * 10**18


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    table_prefix: str = "manabi-local-"
    rpc_url: str = "embedded"
    chain_id: int = 0
    operator_key_id: str = "alias/manabi-operator"
    contracts: ContractAddresses = field(default_factory=ContractAddresses)
    fees: FeePolicy = field(default_factory=FeePolicy)
    relayer: RelayerPolicy = field(default_factory=RelayerPolicy)
    confirmations: int = 1
    receipt_timeout_seconds: int = 20
    mail_sender: str = "no-reply@manabi-relay.example.jp"
    block_explorer_url: str = ""
    apply_rate_limit: int = 60
    apply_rate_window_seconds: int = 600
    talent_key_id: str = "alias/manabi-talent-ids"
    site_domain: str = "127.0.0.1:8000"
    chain_name: str = "Local py-evm"
    public_rpc_url: str = ""
    session_seconds: int = 3600

    @property
    def embedded_chain(self) -> bool:
        return self.rpc_url == "embedded"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            stage=env.get("MANABI_STAGE", "local"),
            table_prefix=env.get("MANABI_TABLE_PREFIX", "manabi-local-"),
            rpc_url=env.get("MANABI_RPC_URL", "embedded"),
            chain_id=_int(env, "MANABI_CHAIN_ID", 0),
            operator_key_id=env.get("MANABI_OPERATOR_KEY_ID", "alias/manabi-operator"),
            contracts=ContractAddresses(
                jpyc=env.get("MANABI_JPYC_ADDRESS", ""),
                rights=env.get("MANABI_RIGHTS_ADDRESS", ""),
                distributor=env.get("MANABI_DISTRIBUTOR_ADDRESS", ""),
                anchor=env.get("MANABI_ANCHOR_ADDRESS", ""),
            ),
            fees=FeePolicy(
                max_fee_per_gas_cap=_int(env, "MANABI_MAX_FEE_GWEI", 500) * GWEI,
                priority_fee=_int(env, "MANABI_PRIORITY_FEE_GWEI", 30) * GWEI,
                gas_headroom_percent=_int(env, "MANABI_GAS_HEADROOM_PERCENT", 25),
            ),
            relayer=RelayerPolicy(
                stuck_after_seconds=_int(env, "MANABI_STUCK_AFTER_SECONDS", 25),
                resend_after_seconds=_int(env, "MANABI_RESEND_AFTER_SECONDS", 10),
                fee_bump_percent=_int(env, "MANABI_FEE_BUMP_PERCENT", 10),
                nonce_consumed_grace_seconds=_int(env, "MANABI_NONCE_CONSUMED_GRACE_SECONDS", 30),
                max_gap_fill=_int(env, "MANABI_MAX_GAP_FILL", 16),
                rpc_attempts=_int(env, "MANABI_RPC_ATTEMPTS", 4),
                min_operator_balance_wei=_int(env, "MANABI_MIN_OPERATOR_BALANCE_WEI", 5 * 10**18),
            ),
            confirmations=_int(env, "MANABI_CONFIRMATIONS", 1),
            receipt_timeout_seconds=_int(env, "MANABI_RECEIPT_TIMEOUT_SECONDS", 20),
            mail_sender=env.get("MANABI_MAIL_SENDER", "no-reply@manabi-relay.example.jp"),
            block_explorer_url=env.get("MANABI_BLOCK_EXPLORER_URL", ""),
            apply_rate_limit=_int(env, "MANABI_APPLY_RATE_LIMIT", 60),
            apply_rate_window_seconds=_int(env, "MANABI_APPLY_RATE_WINDOW_SECONDS", 600),
            talent_key_id=env.get("MANABI_TALENT_KEY_ID", "alias/manabi-talent-ids"),
            site_domain=env.get("MANABI_SITE_DOMAIN", "127.0.0.1:8000"),
            chain_name=env.get("MANABI_CHAIN_NAME", "Local py-evm"),
            public_rpc_url=env.get("MANABI_PUBLIC_RPC_URL", ""),
            session_seconds=_int(env, "MANABI_SESSION_SECONDS", 3600),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.apply_rate_limit < 1 or self.apply_rate_window_seconds < 1:
            raise ConfigurationError("MANABI_APPLY_RATE_LIMIT and MANABI_APPLY_RATE_WINDOW_SECONDS must be positive")
        if self.relayer.fee_bump_percent < 10:
            raise ConfigurationError("MANABI_FEE_BUMP_PERCENT must be at least 10 (nodes refuse smaller bumps)")
        if self.confirmations < 1:
            raise ConfigurationError("MANABI_CONFIRMATIONS must be at least 1")
        if not 0 <= self.fees.gas_headroom_percent <= 200:
            raise ConfigurationError("MANABI_GAS_HEADROOM_PERCENT must be between 0 and 200")
        if self.fees.priority_fee > self.fees.max_fee_per_gas_cap:
            raise ConfigurationError("MANABI_PRIORITY_FEE_GWEI is above MANABI_MAX_FEE_GWEI")
        if self.stage != "local" and self.embedded_chain:
            raise ConfigurationError("the embedded chain is for the local stack only: set MANABI_RPC_URL")
