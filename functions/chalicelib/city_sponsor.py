"""The city as sponsor of last resort.

When sponsors don't cover every selected talent, the city lends rights it
holds (the operator's address) to each talent still waiting, buying new ones
off-chain within a budget it sets. Each right minted for a talent carries a
payment reference derived from the programme and the talent, and the
contract refuses a reference twice, so running the command again after a
crash never pays twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InvalidInput
from .lending import Lending
from .relay import send_checked
from .programs import Program

if TYPE_CHECKING:
    from web3.contract import Contract

    from .applications.store import ApplicationStore
    from .chain.sender import TransactionSender

CITY = "city"


def payment_ref(program: Program, talent_address: str) -> bytes:
    """Hash of the city's budget line for one talent: the same talent never gets two rights."""
    from eth_utils import keccak

    return keccak(text=f"manabi-relay city budget:{program.id}:{talent_address.lower()}")


class CitySponsor:
    def __init__(self, lending: Lending, applications: ApplicationStore, rights: Contract,
                 sender: TransactionSender) -> None:
        self._lending = lending
        self._applications = applications
        self._rights = rights
        self._sender = sender

    def sponsor_remaining(self, program: Program, budget_base_units: Any) -> dict[str, Any]:
        """Lend a city-held right to every selected talent without a sponsor, within the budget."""
        if isinstance(budget_base_units, bool) or not isinstance(budget_base_units, int) or budget_base_units < 0:
            raise InvalidInput("budget must be a non-negative integer", code="invalid_budget")
        price = int(self._rights.functions.program(program.chain_program_id).call()[0])
        waiting = [a for a in self._applications.list_for_program(program.id)
                   if a["status"] == "selected" and a.get("talent_address") and not self._lending.is_sponsored(a)]
        minted_for = self._minted_by_ref(program)
        spare = self._unused_city_tokens(program, exclude=set(minted_for.values()))
        budget, spent, sponsored = budget_base_units, 0, []
        for talent in waiting:
            ref = payment_ref(program, talent["talent_address"])
            token_id = minted_for.get(ref) or (spare.pop(0) if spare else None)
            if token_id is None:
                if budget < price:
                    break
                token_id = self._mint(program, ref)
                budget, spent = budget - price, spent + price
            record = self._lending.lend_as_owner(talent, token_id, self._sender.address, CITY, program)
            sponsored.append({"talent_id": talent["talent_address"], "token_id": token_id, "tx_id": record.tx_id})
        return {
            "program_id": program.id,
            "sponsored": sponsored,
            "spent_base_units": str(spent),
            "remaining_budget_base_units": str(budget),
            "still_waiting": len(waiting) - len(sponsored),
        }

    def _mint(self, program: Program, ref: bytes) -> int:
        data = self._rights.encode_abi("mintPaidOffChain", args=[program.chain_program_id, self._sender.address, ref])
        record = self._sender.wait(send_checked(self._sender, purpose="city right", to=self._rights.address,
                                                data=data).tx_id)
        if record.status != "confirmed":
            raise InvalidInput(f"minting the city's right ended {record.status}", code="mint_failed")
        from web3.logs import DISCARD

        receipt = self._sender.w3.eth.get_transaction_receipt(record.tx_hash)
        # The receipt also holds the ERC-721 Transfer log: skip it quietly.
        [event] = self._rights.events.RightMintedOffChain().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["tokenId"])

    def _minted_by_ref(self, program: Program) -> dict[bytes, int]:
        logs = self._rights.events.RightMintedOffChain.get_logs(
            argument_filters={"programId": program.chain_program_id, "to": self._sender.address}, from_block=0)
        return {bytes(log["args"]["paymentRefHash"]): int(log["args"]["tokenId"]) for log in logs}

    def _unused_city_tokens(self, program: Program, exclude: set[int]) -> list[int]:
        logs = self._rights.events.Transfer.get_logs(argument_filters={"to": self._sender.address}, from_block=0)
        candidates = sorted({int(log["args"]["tokenId"]) for log in logs} - exclude)
        return [
            token_id for token_id in candidates
            if self._rights.functions.ownerOf(token_id).call() == self._sender.address
            and int(self._rights.functions.programOf(token_id).call()) == program.chain_program_id
            and int(self._rights.functions.rightStatus(token_id).call()) == 0
        ]
