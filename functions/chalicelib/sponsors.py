"""What a signed-in sponsor sees: their rights, balances and the payouts they received."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .lending import RIGHT_STATUS

if TYPE_CHECKING:
    from web3 import Web3
    from web3.contract import Contract

    from .chain.jpyc import Jpyc


class SponsorDashboard:
    def __init__(self, w3: Web3, rights: Contract, jpyc: Jpyc, jpyc_contract: Contract, distributor: Contract,
                 *, from_block: int = 0) -> None:
        self._w3 = w3
        self._rights = rights
        self._jpyc = jpyc
        self._jpyc_contract = jpyc_contract
        self._distributor = distributor
        self._from_block = from_block

    def tokens(self, owner: str) -> list[dict[str, Any]]:
        """Rights ``owner`` holds now (found through Transfer logs, confirmed with ownerOf)."""
        logs = self._rights.events.Transfer.get_logs(argument_filters={"to": owner}, from_block=self._from_block)
        token_ids = sorted({int(log["args"]["tokenId"]) for log in logs})
        tokens = []
        for token_id in token_ids:
            if self._rights.functions.ownerOf(token_id).call() != owner:
                continue
            status = RIGHT_STATUS[int(self._rights.functions.rightStatus(token_id).call())]
            tokens.append({
                "token_id": token_id,
                "chain_program_id": int(self._rights.functions.programOf(token_id).call()),
                "status": status,
                "user": self._rights.functions.userOf(token_id).call() if status == "lent" else None,
                "lent_until": int(self._rights.functions.userExpires(token_id).call()) if status == "lent" else None,
            })
        return tokens

    def payouts(self, owner: str) -> list[dict[str, Any]]:
        """Solidarity contributions received: JPYC moved from the payout treasury to ``owner``."""
        treasury = self._distributor.functions.treasury().call()
        logs = self._jpyc_contract.events.Transfer.get_logs(
            argument_filters={"from": treasury, "to": owner}, from_block=self._from_block)
        return [{"amount_base_units": str(log["args"]["value"]), "tx_hash": "0x" + log["transactionHash"].hex().removeprefix("0x"),
                 "block_number": int(log["blockNumber"])} for log in logs]

    def overview(self, owner: str) -> dict[str, Any]:
        return {
            "address": owner,
            "balances": {"jpyc_base_units": str(self._jpyc.balance_of(owner)),
                         "native_wei": str(self._w3.eth.get_balance(owner))},
            "tokens": self.tokens(owner),
            "payouts": self.payouts(owner),
        }
