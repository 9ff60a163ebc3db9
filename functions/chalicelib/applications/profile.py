"""What a selected talent agrees to show sponsors: a nickname and a short self-introduction.

Never a name, contact or address. Staff enter it with the talent's consent
(``share``); without consent the talent is not listed to sponsors. A talent
who gives their own wallet address is lent to there.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from ..errors import InvalidInput
from .form import field_errors


class TalentProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    nickname: str = Field(min_length=1, max_length=20)
    introduction: str = Field(default="", max_length=200)
    share: StrictBool
    # A talent who has a wallet may receive the lending there instead of the derived address.
    wallet_address: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")

    def checksummed_wallet(self) -> str | None:
        if self.wallet_address is None:
            return None
        from eth_utils import to_checksum_address

        return str(to_checksum_address(self.wallet_address))

    @classmethod
    def parse(cls, body: dict[str, Any]) -> TalentProfile:
        try:
            return cls.model_validate(body)
        except ValidationError as exc:
            raise InvalidInput("入力内容を確認してください", errors=field_errors(exc)) from exc
