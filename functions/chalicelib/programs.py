"""The programme catalogue: courses, their application windows and in-person sessions.

One JSON file (``data/programs.json``, or the file named by ``MANABI_PROGRAMS_FILE``)
is the single source for the API (``GET /programs``), the public site (rendered
into the pages at build time) and the chain (``chain_program_id`` and price).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import NotFound

JPYC_DECIMALS = 18
DEFAULT_CATALOGUE = Path(__file__).with_name("data") / "programs.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class City(_Frozen):
    name: str
    program_name: str
    office: str
    contact_email: str
    contact_phone: str
    contact_hours: str


class Session(_Frozen):
    """One in-person day of a course."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    title: str
    date: dt.date
    starts_at: str = Field(pattern=r"^\d{2}:\d{2}$")
    ends_at: str = Field(pattern=r"^\d{2}:\d{2}$")
    place: str
    childcare: bool
    childcare_capacity: int = Field(ge=0)


class Childcare(_Frozen):
    ages: str
    fee_yen: int = Field(ge=0)
    note: str


PriorityGroup = Literal["lives_or_works_in_city", "needs_childcare"]

PRIORITY_GROUP_LABELS = {
    "lives_or_works_in_city": "市内にお住まいか、お勤めの方",
    "needs_childcare": "託児を希望する方",
}


class Program(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    chain_program_id: int = Field(gt=0)
    title: str
    summary: str
    capacity: int = Field(gt=0)
    price_yen: int = Field(gt=0)
    application_opens_at: dt.datetime
    application_closes_at: dt.datetime
    results_announced_on: dt.date
    course_starts_on: dt.date
    course_ends_on: dt.date
    lending_days: int = Field(gt=0, le=730)
    sessions: tuple[Session, ...]
    childcare: Childcare
    # Lottery rules, published before the window closes: groups drawn first, in order.
    priority_groups: tuple[PriorityGroup, ...] = ("lives_or_works_in_city",)
    waitlist_size: int = Field(default=10, ge=0)

    @field_validator("application_opens_at", "application_closes_at")
    @classmethod
    def _must_be_aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("application window times need a UTC offset, e.g. +09:00")
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> Program:
        if self.application_closes_at <= self.application_opens_at:
            raise ValueError("application window closes before it opens")
        if self.course_ends_on < self.course_starts_on:
            raise ValueError("course ends before it starts")
        if len({s.id for s in self.sessions}) != len(self.sessions):
            raise ValueError("session ids must be unique within a program")
        return self

    @property
    def price_base_units(self) -> int:
        """The price in JPYC base units (1 JPYC = 10**18), as the contract expects."""
        return self.price_yen * 10**JPYC_DECIMALS

    @property
    def lending_seconds(self) -> int:
        return self.lending_days * 86_400

    def session(self, session_id: str) -> Session | None:
        return next((s for s in self.sessions if s.id == session_id), None)

    def is_open(self, now: dt.datetime) -> bool:
        return self.application_opens_at <= now <= self.application_closes_at


class Catalogue(_Frozen):
    city: City
    programs: tuple[Program, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Catalogue:
        if len({p.id for p in self.programs}) != len(self.programs):
            raise ValueError("program ids must be unique")
        if len({p.chain_program_id for p in self.programs}) != len(self.programs):
            raise ValueError("chain_program_id values must be unique")
        return self

    def program(self, program_id: str) -> Program | None:
        return next((p for p in self.programs if p.id == program_id), None)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and validate the catalogue; raises pydantic.ValidationError when it is wrong."""
    source = Path(path or os.environ.get("MANABI_PROGRAMS_FILE") or DEFAULT_CATALOGUE)
    return Catalogue.model_validate(json.loads(source.read_text(encoding="utf-8")))


def require_program(catalogue: Catalogue, program_id: str) -> Program:
    """The programme ``program_id``, or NotFound."""
    program = catalogue.program(program_id)
    if program is None:
        raise NotFound("指定された講座は見つかりません。", code="program_not_found")
    return program


def cached_catalogue(path: str | None = None) -> Catalogue:
    """The catalogue, read once per Lambda container (per file)."""
    return _cached(str(path or os.environ.get("MANABI_PROGRAMS_FILE") or DEFAULT_CATALOGUE))


@lru_cache(maxsize=8)
def _cached(path: str) -> Catalogue:
    return load_catalogue(path)


def public_programs(catalogue: Catalogue, capacity_of: Callable[[Program], int] | None = None,
                    now: dt.datetime | None = None) -> list[dict[str, object]]:
    """Programmes as ``GET /programs`` shows them: those not yet closed, with current seats."""
    now = now or dt.datetime.now(dt.timezone.utc)
    seats = capacity_of or (lambda p: p.capacity)
    return [
        {
            "id": p.id,
            "title": p.title,
            "summary": p.summary,
            "capacity": seats(p),
            "accepting_applications": p.is_open(now),
            "price_yen": p.price_yen,
            "application_window": {
                "opens_at": p.application_opens_at.isoformat(),
                "closes_at": p.application_closes_at.isoformat(),
            },
            "results_announced_on": p.results_announced_on.isoformat(),
            "course": {"starts_on": p.course_starts_on.isoformat(), "ends_on": p.course_ends_on.isoformat()},
            "sessions": [
                {
                    "id": s.id,
                    "title": s.title,
                    "date": s.date.isoformat(),
                    "starts_at": s.starts_at,
                    "ends_at": s.ends_at,
                    "place": s.place,
                    "childcare": s.childcare,
                }
                for s in p.sessions
            ],
            "childcare": {
                "available": any(s.childcare for s in p.sessions),
                "ages": p.childcare.ages,
                "fee_yen": p.childcare.fee_yen,
            },
        }
        for p in catalogue.programs
        if now <= p.application_closes_at
    ]
