"""Reskilling rights on chain: programme supply, price and the state of each right."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import NotFound
from .programs import Program

if TYPE_CHECKING:
    from web3.contract import Contract


class RightsRegistry:
    """Reads the ``ReskillingRights`` contract. Amounts stay integers in JPYC base units."""

    def __init__(self, rights: Contract) -> None:
        self._rights = rights

    def program_state(self, program: Program) -> dict[str, Any]:
        """The on-chain side of ``program``; raises NotFound before the operator created it."""
        price, supply_cap, minted, treasury, max_period, locked, exists = self._rights.functions.program(
            program.chain_program_id
        ).call()
        if not exists:
            raise NotFound("the programme has no rights on chain yet", code="program_not_on_chain")
        return {
            "program_id": program.id,
            "chain_program_id": program.chain_program_id,
            "contract": self._rights.address,
            # Strings: base-unit amounts exceed JavaScript's safe integers.
            "price_base_units": str(price),
            "supply_cap": supply_cap,
            "minted": minted,
            "available": max(supply_cap - minted, 0),
            "treasury": treasury,
            "max_lending_seconds": max_period,
            "transfers_locked": locked,
        }
