"""Sponsors buy rights with a JPYC permit; the city's relayer submits and pays the gas.

The sponsor signs an EIP-2612 permit for ``price × quantity`` to the rights
contract. We check everything we can before any transaction is recorded —
the signature, the balance, the supply — and the relayer's gas estimate
simulates the purchase itself, so a doomed purchase is refused, not mined.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .chain.eip712 import recover_typed_data, split_signature
from .chain.jpyc import Jpyc
from .errors import Conflict, InvalidInput
from .programs import Catalogue, require_program
from .relay import send_checked

if TYPE_CHECKING:
    from web3.contract import Contract

    from .chain.sender import TransactionSender

MAX_QUANTITY = 10
QUOTE_SECONDS = 20 * 60


class Purchases:
    def __init__(
        self,
        catalogue: Catalogue,
        rights: Contract,
        jpyc: Jpyc,
        sender: TransactionSender,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalogue = catalogue
        self._rights = rights
        self._jpyc = jpyc
        self._sender = sender
        self._clock = clock

    def _checked(self, buyer: str, program_id: Any, quantity: Any) -> tuple[int, int, int]:
        """(chain programme id, quantity, total price) after the checks both steps share."""
        if not isinstance(program_id, str):
            raise InvalidInput("program_id is required", errors=[{"field": "program_id", "message": "講座を選んでください"}])
        program = require_program(self._catalogue, program_id)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidInput("quantity must be 1-10", errors=[
                {"field": "quantity", "message": f"数量は1から{MAX_QUANTITY}までで選んでください"}])
        price, cap, minted, _, _, _, exists = self._rights.functions.program(program.chain_program_id).call()
        if not exists:
            raise Conflict("この講座の権利はまだ販売されていません。", code="program_not_on_chain")
        if minted + quantity > cap:
            raise Conflict(f"残りの権利は{cap - minted}件です。", code="sold_out", available=cap - minted)
        total = int(price) * quantity
        if self._jpyc.balance_of(buyer) < total:
            raise Conflict("JPYCの残高が足りません。", code="insufficient_balance")
        return program.chain_program_id, quantity, total

    def quote(self, buyer: str, program_id: Any, quantity: Any) -> dict[str, Any]:
        """The permit to sign (EIP-712 typed data) and what it buys."""
        _, quantity, total = self._checked(buyer, program_id, quantity)
        deadline = int(self._clock()) + QUOTE_SECONDS
        typed = self._jpyc.permit_typed_data(owner=buyer, spender=self._rights.address, value=total,
                                             deadline=deadline)
        # uint256 values as strings: JavaScript numbers lose precision above 2**53.
        typed["message"] = {**typed["message"], "value": str(total)}
        return {"program_id": program_id, "quantity": quantity, "total_base_units": str(total),
                "deadline": deadline, "typed_data": typed}

    def submit(self, buyer: str, program_id: Any, quantity: Any, deadline: Any, signature: Any) -> dict[str, Any]:
        """Check the signed permit and queue the purchase; returns the relayer's tx id."""
        chain_program_id, quantity, total = self._checked(buyer, program_id, quantity)
        now = int(self._clock())
        if isinstance(deadline, bool) or not isinstance(deadline, int) or not now + 30 < deadline <= now + 3600:
            raise InvalidInput("the permit deadline has passed or is too far", code="invalid_deadline",
                               errors=[{"field": "deadline", "message": "署名の有効期限が切れています。もう一度お試しください"}])
        typed = self._jpyc.permit_typed_data(owner=buyer, spender=self._rights.address, value=total,
                                             deadline=deadline)
        try:
            v, r, s = split_signature(signature if isinstance(signature, str) else "")
            signer = recover_typed_data(typed, signature)
        except (ValueError, TypeError) as exc:
            raise InvalidInput("the signature is malformed", code="invalid_signature",
                               errors=[{"field": "signature", "message": "署名を読み取れませんでした"}]) from exc
        if signer != buyer:
            raise Conflict("the permit was not signed by the signed-in wallet", code="signer_mismatch")
        if quantity == 1:
            data = self._rights.encode_abi("purchaseWithPermit", args=[chain_program_id, buyer, deadline, v, r, s])
        else:
            data = self._rights.encode_abi(
                "purchaseBatchWithPermit", args=[chain_program_id, buyer, quantity, deadline, v, r, s])
        record = send_checked(self._sender, purpose=f"purchase {quantity} x program {chain_program_id}",
                              to=self._rights.address, data=data)
        return {"tx_id": record.tx_id, "status": record.public_status}

