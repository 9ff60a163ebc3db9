"""Taking applications in, and the changes staff make to them afterwards."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from typing import Any

from ..errors import Conflict, InvalidInput
from ..mail import Outbox
from ..programs import Catalogue, Program, require_program
from .form import ApplicationForm
from .store import ApplicationStore, ReceiptNumberTaken

logger = logging.getLogger("manabi.applications")

# Crockford's base32 without I, L, O, U: easy to read aloud and type on a phone.
_RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# What staff may set by hand. Lottery outcomes are set by the lottery only.
STAFF_STATUSES = {
    "withdrawn": ("received", "selected", "waitlisted"),
    "ineligible": ("received",),
    "received": ("ineligible",),
}


def new_receipt_number() -> str:
    """10 random characters (50 bits), shown as XXXXX-XXXXX: not guessable from a sequence."""
    chars = "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class ApplicationService:
    def __init__(
        self,
        catalogue: Catalogue,
        store: ApplicationStore,
        outbox: Outbox,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._catalogue = catalogue
        self._store = store
        self._outbox = outbox
        self._clock = clock

    def program_for(self, raw: Any) -> Program:
        """The programme a raw request names: NotFound for an unknown id, 422 when missing."""
        program_id = raw.get("program_id") if isinstance(raw, dict) else None
        if not isinstance(program_id, str) or not program_id.strip():
            raise InvalidInput("入力内容を確認してください", code="invalid_input",
                               errors=[{"field": "program_id", "message": "講座を選んでください"}])
        return require_program(self._catalogue, program_id.strip())

    def submit(self, form: ApplicationForm) -> dict[str, Any]:
        """Store a valid application and queue its confirmation e-mail, atomically."""
        program = require_program(self._catalogue, form.program_id)
        now = self._clock()
        if now < program.application_opens_at:
            raise Conflict("この講座の募集はまだ始まっていません。", code="application_window_not_open")
        if now > program.application_closes_at:
            raise Conflict("この講座の募集期間は終了しました。", code="application_window_closed")
        application_id = "app_" + secrets.token_hex(12)
        for _ in range(5):
            receipt_number = new_receipt_number()
            item = {
                **form.model_dump(exclude={"website"}),
                "application_id": application_id,
                "receipt_number": receipt_number,
                "status": "received",
                "submitted_at": now.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"),
            }
            message_id, queue_mail = self._outbox.put_request(application_id, "received")
            try:
                self._store.create(item, [queue_mail])
            except ReceiptNumberTaken:
                continue
            break
        else:  # pragma: no cover - 50-bit collisions five times in a row
            raise Conflict("受付番号を発行できませんでした。もう一度お試しください。", code="receipt_exhausted")
        # The application is safe; a mail failure only leaves the message queued for the retry job.
        try:
            self._outbox.deliver(message_id)
        except Exception:  # noqa: BLE001
            logger.exception("confirmation mail deferred", extra={"application_id": application_id})
        return {"application_id": application_id, "receipt_number": receipt_number, "status": "received"}

    def list(self, program_id: str) -> list[dict[str, Any]]:
        """The programme's applications for staff, each with its e-mails' delivery state."""
        require_program(self._catalogue, program_id)
        applications = self._store.list_for_program(program_id)
        for application in applications:
            application["mail"] = self._outbox.for_application(application["application_id"])
        return applications

    def change_status(self, application_id: str, status: str) -> dict[str, Any]:
        """Set a staff-managed status; withdrawing a selected talent opens a seat."""
        if status not in STAFF_STATUSES:
            raise InvalidInput(
                f"status must be one of {sorted(STAFF_STATUSES)}", code="invalid_status",
                errors=[{"field": "status", "message": "この状態には変更できません"}],
            )
        application = self._store.get(application_id)
        allowed_from = STAFF_STATUSES[status]
        if application["status"] not in allowed_from:
            raise Conflict(f"cannot change {application['status']} to {status}", code="status_conflict")
        self._store.update_status(application_id, expected=allowed_from, status=status,
                                  fields={"status_changed_at": self._clock().isoformat()})
        return {**application, "status": status, "previous_status": application["status"]}
