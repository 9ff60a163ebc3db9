"""What a selected talent agrees to show sponsors: a nickname and a short self-introduction.

Never a name, contact or address. Staff enter it with the talent's consent
(``share``); without consent the talent is not listed to sponsors.
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

    @classmethod
    def parse(cls, body: dict[str, Any]) -> TalentProfile:
        try:
            return cls.model_validate(body)
        except ValidationError as exc:
            raise InvalidInput("入力内容を確認してください", errors=field_errors(exc)) from exc
