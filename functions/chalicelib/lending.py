"""Sponsors lend a right to a selected talent, by signing an EIP-712 ``Lend``.

Everything is checked before a transaction is recorded: the signer owns the
token, the token is unused, the talent is selected and has no sponsor, the
signature is valid. The talent is reserved with a conditional write, so two
sponsors (or a double click) can't both lend to them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any


from .applications.store import ApplicationStore
from .chain.eip712 import DOMAIN_TYPE, recover_typed_data
from .errors import Conflict, InvalidInput, NotFound
from .programs import Catalogue
from .purchases import QUOTE_SECONDS
from .relay import send_checked

if TYPE_CHECKING:
    from web3.contract import Contract

    from .chain.sender import TransactionSender
    from .chain.transactions import TransactionStore

JST = dt.timezone(dt.timedelta(hours=9))
CLAIM_SECONDS = 300
RIGHT_STATUS = {0: "unused", 1: "lent", 2: "consumed"}
LEND_TYPES = [
    {"name": "tokenId", "type": "uint256"},
    {"name": "user", "type": "address"},
    {"name": "expires", "type": "uint64"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


class Lending:
    def __init__(
        self,
        catalogue: Catalogue,
        applications: ApplicationStore,
        rights: Contract,
        sender: TransactionSender,
        ledger: TransactionStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalogue = catalogue
        self._applications = applications
        self._rights = rights
        self._sender = sender
        self._ledger = ledger
        self._clock = clock

    # -- talents -----------------------------------------------------------------------------

    def waiting_talents(self, program_id: str) -> list[dict[str, Any]]:
        """Selected talents without a sponsor: pseudonymous, what they agreed to share only."""
        program = self._catalogue.program(program_id)
        if program is None:
            raise NotFound("指定された講座は見つかりません。", code="program_not_found")
        return [
            {
                "talent_id": a["talent_address"],
                "nickname": a.get("talent_profile", {}).get("nickname", "受講生"),
                "introduction": a.get("talent_profile", {}).get("introduction", ""),
                "program_id": program.id,
                "cohort": program.title,
            }
            for a in self._applications.list_for_program(program_id)
            if a["status"] == "selected" and a.get("talent_address")
            and a.get("talent_profile", {}).get("share") is True and not self.is_sponsored(a)
        ]

    def is_sponsored(self, application: dict[str, Any]) -> bool:
        """True while a lending to the talent is in flight or done (a failed one frees them)."""
        lending = application.get("lending") or {}
        if "tx_id" not in lending:
            return False
        if lending["tx_id"] == "pending":
            # Claimed by a request that is still sending (or died doing so: then it expires).
            return int(self._clock()) - int(lending.get("claimed_at", 0)) < CLAIM_SECONDS
        try:
            # resolve(): a lending whose nonce was taken lives on in its re-queued record.
            return self._ledger.resolve(lending["tx_id"]).status != "failed"
        except NotFound:
            return False

    def _talent(self, talent_id: str, program: Any = None) -> dict[str, Any]:
        """The selected, unsponsored talent ``talent_id`` (of ``program`` when given)."""
        talent = self._find_talent(talent_id)
        if program is not None and talent["program_id"] != program.id:
            raise Conflict("この受講生は、この権利の講座の受講生ではありません。", code="talent_in_other_program")
        return talent

    def _find_talent(self, talent_id: str) -> dict[str, Any]:
        if not isinstance(talent_id, str):
            raise InvalidInput("talent_id is required", errors=[{"field": "talent_id", "message": "受講生を選んでください"}])
        for program in self._catalogue.programs:
            for application in self._applications.list_for_program(program.id):
                if application.get("talent_address", "").lower() == talent_id.lower():
                    if application["status"] != "selected":
                        break
                    if self.is_sponsored(application):
                        raise Conflict("この受講生には、すでにスポンサーがいます。", code="talent_has_sponsor")
                    return application
        raise NotFound("この受講生は見つからないか、受講が決まっていません。", code="talent_not_found")

    # -- lending -----------------------------------------------------------------------------

    def _token(self, owner: str, token_id: Any) -> tuple[int, Any]:
        if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 1:
            raise InvalidInput("token_id must be a positive integer",
                               errors=[{"field": "token_id", "message": "権利を選んでください"}])
        from web3.exceptions import ContractLogicError

        try:
            holder = self._rights.functions.ownerOf(token_id).call()
        except ContractLogicError as exc:
            raise NotFound("no such right", code="token_not_found") from exc
        if holder != owner:
            raise Conflict("この権利の持ち主ではありません。", code="not_token_owner")
        status = RIGHT_STATUS[int(self._rights.functions.rightStatus(token_id).call())]
        if status != "unused":
            raise Conflict("この権利は、貸出中か使用済みです。", code=f"token_{status}")
        return token_id, self._catalogue_program_of(token_id)

    def _catalogue_program_of(self, token_id: int) -> Any:
        chain_id = int(self._rights.functions.programOf(token_id).call())
        program = next((p for p in self._catalogue.programs if p.chain_program_id == chain_id), None)
        if program is None:
            raise Conflict("the right belongs to a programme this site does not run", code="unknown_program")
        return program

    def expiry_for(self, program: Any) -> int:
        """End of the course's last day (JST), capped by the programme's longest lending."""
        end = dt.datetime.combine(program.course_ends_on, dt.time(23, 59, 59), JST)
        return min(int(end.timestamp()), int(self._clock()) + program.lending_seconds - 60)

    def _typed(self, owner: str, token_id: int, user: str, expires: int, deadline: int) -> dict[str, Any]:
        name, version, chain_id, contract = self._rights.functions.eip712Domain().call()[1:5]
        return {
            "types": {"EIP712Domain": DOMAIN_TYPE, "Lend": LEND_TYPES},
            "primaryType": "Lend",
            "domain": {"name": name, "version": version, "chainId": int(chain_id), "verifyingContract": contract},
            "message": {"tokenId": token_id, "user": user, "expires": expires,
                        "nonce": int(self._rights.functions.nonces(owner).call()), "deadline": deadline},
        }

    def quote(self, owner: str, token_id: Any, talent_id: Any) -> dict[str, Any]:
        token_id, program = self._token(owner, token_id)
        talent = self._talent(talent_id, program)
        expires = self.expiry_for(program)
        deadline = int(self._clock()) + QUOTE_SECONDS
        return {"token_id": token_id, "talent_id": talent["talent_address"], "expires": expires,
                "deadline": deadline,
                "typed_data": self._typed(owner, token_id, talent["talent_address"], expires, deadline)}

    def submit(self, owner: str, token_id: Any, talent_id: Any, expires: Any, deadline: Any,
               signature: Any) -> dict[str, Any]:
        token_id, program = self._token(owner, token_id)
        talent = self._talent(talent_id, program)
        now = int(self._clock())
        for field, value in (("expires", expires), ("deadline", deadline)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= now:
                raise InvalidInput(f"{field} has passed", code=f"invalid_{field}",
                                   errors=[{"field": field, "message": "署名の有効期限が切れています。もう一度お試しください"}])
        if expires > now + program.lending_seconds:
            raise InvalidInput("expires is beyond the programme's longest lending", code="invalid_expires")
        typed = self._typed(owner, token_id, talent["talent_address"], expires, deadline)
        try:
            signer = recover_typed_data(typed, signature)
        except (ValueError, TypeError) as exc:
            raise InvalidInput("the signature is malformed", code="invalid_signature",
                               errors=[{"field": "signature", "message": "署名を読み取れませんでした"}]) from exc
        if signer != owner:
            raise Conflict("the Lend message was not signed by the token's owner", code="signer_mismatch")
        data = self._rights.encode_abi("lendWithSig", args=[token_id, talent["talent_address"], expires, deadline,
                                                             bytes.fromhex(signature.removeprefix("0x"))])
        claim = self._claim(talent, {"token_id": token_id, "sponsor": owner, "tx_id": "pending",
                                     "claimed_at": now})
        try:
            record = send_checked(self._sender, purpose=f"lend right {token_id}", to=self._rights.address, data=data)
        except Exception:
            self._claim({**talent, "lending": claim}, {})  # free the talent again
            raise
        self._claim({**talent, "lending": claim}, {"token_id": token_id, "sponsor": owner, "tx_id": record.tx_id})
        return {"tx_id": record.tx_id, "status": record.public_status}

    def _claim(self, talent: dict[str, Any], lending: dict[str, Any]) -> dict[str, Any]:
        """Replace the talent's lending if nobody changed it since we read it; a concurrent claim loses."""
        previous = talent.get("lending") or {}
        if not self._applications.claim_talent(talent["application_id"], previous, lending):
            raise Conflict("この受講生には、すでにスポンサーがいます。", code="talent_has_sponsor")
        return {**lending, "version": int(previous.get("version", 0)) + 1}

    def lend_as_owner(self, talent: dict[str, Any], token_id: int, owner: str, sponsor: str, program: Any) -> Any:
        """Lend a token the operator itself owns (the city's rights) with ``setUser``."""
        now = int(self._clock())
        claim = self._claim(talent, {"token_id": token_id, "sponsor": sponsor, "tx_id": "pending", "claimed_at": now})
        data = self._rights.encode_abi("setUser", args=[token_id, talent["talent_address"], self.expiry_for(program)])
        try:
            record = send_checked(self._sender, purpose=f"city lends right {token_id}", to=self._rights.address,
                                  data=data)
        except Exception:
            self._claim({**talent, "lending": claim}, {})
            raise
        self._claim({**talent, "lending": claim}, {"token_id": token_id, "sponsor": sponsor, "tx_id": record.tx_id})
        return record
