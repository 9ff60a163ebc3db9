"""The application form: what a citizen sends, checked with Japanese messages.

The site's JavaScript mirrors these rules so people see mistakes early, but
this module decides. Messages are shown to citizens as they are, so each one
says what to do, in the same words as the form (Digital Agency guidance).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ..programs import Program

NAME_MAX = 50
ADDRESS_MAX = 200
MOTIVATION_MAX = 800
CHILDREN_MAX = 10
CHILDCARE_CHILDREN_MAX = 5
EMAIL_MAX = 254

MESSAGES: dict[str, dict[str, str]] = {
    "program_id": {"required": "講座を選んでください"},
    "name": {"required": "氏名を入力してください", "too_long": f"氏名は{NAME_MAX}文字以内で入力してください"},
    "name_kana": {
        "required": "ふりがなを入力してください",
        "invalid": "ふりがなは、ひらがなかカタカナで入力してください",
        "too_long": f"ふりがなは{NAME_MAX}文字以内で入力してください",
    },
    "email": {"required": "メールアドレスを入力してください", "invalid": "メールアドレスの形式が正しくありません"},
    "phone": {
        "required": "電話番号を入力してください",
        "invalid": "電話番号は0から始まる10桁か11桁の数字で入力してください",
    },
    "postal_code": {"required": "郵便番号を入力してください", "invalid": "郵便番号は7桁の数字で入力してください"},
    "address": {
        "required": "住所を入力してください",
        "too_long": f"住所は{ADDRESS_MAX}文字以内で入力してください",
    },
    "lives_or_works_in_city": {"required": "市内にお住まいか、お勤めかを選んでください"},
    "children": {
        "invalid": "お子さんの年齢は0〜18の数字で入力してください",
        "too_many": f"お子さんの人数は{CHILDREN_MAX}人までで入力してください",
    },
    "childcare_requests": {
        "invalid": f"託児を希望するお子さんの人数を1〜{CHILDCARE_CHILDREN_MAX}人で入力してください",
        "no_childcare": "この日程では託児を受け付けていません",
        "duplicate": "同じ日程の託児希望が重複しています",
    },
    "work_styles": {"required": "希望する働き方を1つ以上選んでください"},
    "pc_environment": {"required": "パソコンの環境を選んでください"},
    "motivation": {
        "required": "志望動機を入力してください",
        "too_long": f"志望動機は{MOTIVATION_MAX}文字以内で入力してください",
    },
    "consent_privacy": {"required": "個人情報の取り扱いへの同意が必要です"},
    "website": {"invalid": "送信できませんでした。ページを再読み込みして、もう一度お試しください"},
}
UNKNOWN_FIELD = "この項目は受け付けていません"

# Hyphens and dashes people type in phone numbers and postal codes, after NFKC.
_DASHES = re.compile(r"[\s\-‐‑‒–—―−ｰー()]")
_KANA = re.compile(r"^[\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe・ ]+$")
_EMAIL = re.compile(r"^[^@\s\"<>(),;:\\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _fail(field: str, kind: str) -> PydanticCustomError:
    return PydanticCustomError(kind, MESSAGES[field][kind])


def _text(value: Any, field: str, *, form: str = "NFC", max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise _fail(field, "required")
    text = _CONTROL.sub("", unicodedata.normalize(form, value.replace("\r\n", "\n"))).strip()
    if not text:
        raise _fail(field, "required")
    if max_length is not None and len(text) > max_length:
        raise _fail(field, "too_long")
    return text


class Child(BaseModel):
    model_config = ConfigDict(extra="forbid")

    age: Annotated[StrictInt, Field(ge=0, le=18)]


class ChildcareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: Annotated[str, Field(min_length=1, max_length=32)]
    children: Annotated[StrictInt, Field(ge=1, le=CHILDCARE_CHILDREN_MAX)]


WorkStyle = Literal["in_city", "near_city", "telework"]
PcEnvironment = Literal["own", "shared", "none"]


class ApplicationForm(BaseModel):
    """An application as the API receives it. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    program_id: str
    name: str
    name_kana: str
    email: str
    phone: str
    postal_code: str
    address: str
    lives_or_works_in_city: StrictBool
    children: Annotated[list[Child], Field(max_length=CHILDREN_MAX)] = []
    childcare_requests: Annotated[list[ChildcareRequest], Field(max_length=10)] = []
    work_styles: Annotated[list[WorkStyle], Field(min_length=1, max_length=3)]
    pc_environment: PcEnvironment
    motivation: str
    consent_privacy: StrictBool
    website: str = ""

    @field_validator("program_id", mode="before")
    @classmethod
    def _program_id(cls, value: Any) -> str:
        return _text(value, "program_id", max_length=64)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str:
        return " ".join(_text(value, "name", max_length=NAME_MAX).split())

    @field_validator("name_kana", mode="before")
    @classmethod
    def _name_kana(cls, value: Any) -> str:
        # NFKC turns half-width katakana and the ideographic space into their usual forms.
        kana = " ".join(_text(value, "name_kana", form="NFKC", max_length=NAME_MAX).split())
        if not _KANA.match(kana):
            raise _fail("name_kana", "invalid")
        return kana

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        email = _text(value, "email", form="NFKC")
        if len(email) > EMAIL_MAX or not _EMAIL.match(email):
            raise _fail("email", "invalid")
        local, domain = email.rsplit("@", 1)
        return f"{local}@{domain.lower()}"

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> str:
        digits = _DASHES.sub("", _text(value, "phone", form="NFKC"))
        if not re.fullmatch(r"0\d{9,10}", digits):
            raise _fail("phone", "invalid")
        return digits

    @field_validator("postal_code", mode="before")
    @classmethod
    def _postal_code(cls, value: Any) -> str:
        digits = _DASHES.sub("", _text(value, "postal_code", form="NFKC").lstrip("〒"))
        if not re.fullmatch(r"\d{7}", digits):
            raise _fail("postal_code", "invalid")
        return f"{digits[:3]}-{digits[3:]}"

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: Any) -> str:
        return " ".join(_text(value, "address", max_length=ADDRESS_MAX).split())

    @field_validator("motivation", mode="before")
    @classmethod
    def _motivation(cls, value: Any) -> str:
        return _text(value, "motivation", max_length=MOTIVATION_MAX)

    @field_validator("work_styles")
    @classmethod
    def _unique_work_styles(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("consent_privacy")
    @classmethod
    def _consent(cls, value: bool) -> bool:
        if value is not True:
            raise _fail("consent_privacy", "required")
        return value

    @field_validator("website")
    @classmethod
    def _honeypot(cls, value: str) -> str:
        if value != "":
            raise _fail("website", "invalid")
        return value

    @field_validator("childcare_requests")
    @classmethod
    def _childcare(cls, value: list[ChildcareRequest], info: ValidationInfo) -> list[ChildcareRequest]:
        program: Program | None = (info.context or {}).get("program")
        seen: set[str] = set()
        for request in value:
            if request.session_id in seen:
                raise _fail("childcare_requests", "duplicate")
            seen.add(request.session_id)
            session = program.session(request.session_id) if program else None
            if program is not None and (session is None or not session.childcare):
                raise _fail("childcare_requests", "no_childcare")
        return value

    @property
    def needs_childcare(self) -> bool:
        return bool(self.childcare_requests)


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``[{"field", "message"}]``, one per field, in Japanese.

    ``field`` is the dotted path of the value (``childcare_requests.0.children``),
    so a client can put the message next to the right control.
    """
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        location = [str(part) for part in error["loc"]] or ["body"]
        kind = error["type"]
        messages = MESSAGES.get(location[0], {})
        if kind == "extra_forbidden":
            message = UNKNOWN_FIELD
        elif kind in messages:
            message = messages[kind]
        elif location[0] == "children" and kind == "too_long":
            message = messages["too_many"]
        else:
            message = messages.get("required") or messages.get("invalid") or "入力内容を確認してください"
        errors.setdefault(".".join(location), message)
    return [{"field": field, "message": message} for field, message in errors.items()]


def parse_application(body: dict[str, Any], program: Program) -> ApplicationForm:
    """The validated form, or InvalidInput (422) listing every field's problem."""
    from ..errors import InvalidInput

    try:
        return ApplicationForm.model_validate(body, context={"program": program})
    except ValidationError as exc:
        raise InvalidInput("入力内容を確認してください", errors=field_errors(exc)) from exc
