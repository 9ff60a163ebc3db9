"""A fair selection anyone can check: commit, draw, publish.

1. Before the window closes, staff commit to a secret seed by publishing
   SHA-256(seed). They can't pick a seed after seeing who applied.
2. After it closes, staff reveal the seed to draw. Applicants are ordered by
   priority group (the published rules), then by SHA-256(seed ‖ receipt number).
   The first ``capacity`` are selected, the next ``waitlist_size`` waitlisted.
3. Publishing makes the seed and the result (by receipt number) public,
   e-mails every applicant, and gives each selected talent a pseudonymous
   on-chain identity. Anyone can rerun the order from the published data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .applications.store import ApplicationStore
from .capacity import Capacity
from .config import Settings
from .dynamo import deserialize, serialize_value
from .errors import Conflict, InvalidInput
from .mail import Outbox
from .programs import PRIORITY_GROUP_LABELS, Catalogue, Program, require_program
from .tables import LOTTERIES
from .talents import TalentIdentities

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Entry:
    receipt_number: str
    tier: int


def order_key(seed_hex: str, receipt_number: str) -> str:
    """SHA-256(seed bytes ‖ receipt number in ASCII), hex: the draw's tie-breaker."""
    return hashlib.sha256(bytes.fromhex(seed_hex) + receipt_number.encode("ascii")).hexdigest()


def draw_order(seed_hex: str, entries: list[Entry]) -> list[Entry]:
    """Entries in draw order: lower tier first, then by :func:`order_key`."""
    return sorted(entries, key=lambda e: (e.tier, order_key(seed_hex, e.receipt_number)))


def tier_of(application: dict[str, Any], groups: tuple[str, ...]) -> int:
    """Index of the first priority group the applicant is in; ``len(groups)`` if none."""
    membership = {
        "lives_or_works_in_city": bool(application.get("lives_or_works_in_city")),
        "needs_childcare": bool(application.get("childcare_requests")),
    }
    return next((i for i, group in enumerate(groups) if membership[group]), len(groups))


def rules(program: Program) -> dict[str, Any]:
    """The published rules of the programme's draw."""
    groups = [{"tier": i, "group": g, "label": PRIORITY_GROUP_LABELS[g]} for i, g in enumerate(program.priority_groups)]
    return {
        "priority_groups": groups,
        "others_tier": len(program.priority_groups),
        "order": "tier ascending, then SHA-256(bytes.fromhex(seed) + receipt_number.encode('ascii')) hex ascending",
        "seed": "32 random bytes, published as 64 lowercase hex characters",
        "waitlist_size": program.waitlist_size,
    }


class Lottery:
    def __init__(
        self,
        settings: Settings,
        dynamodb_client: Any,
        catalogue: Catalogue,
        applications: ApplicationStore,
        outbox: Outbox,
        capacity: Capacity,
        talents: TalentIdentities,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
    ) -> None:
        self._client = dynamodb_client
        self._table = LOTTERIES.physical_name(settings)
        self._catalogue = catalogue
        self._applications = applications
        self._outbox = outbox
        self._capacity = capacity
        self._talents = talents
        self._clock = clock

    # -- state -------------------------------------------------------------------------------

    def _get(self, program_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table, Key={"program_id": {"S": program_id}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else deserialize(item)

    def _update(self, program_id: str, values: dict[str, Any], condition: str) -> None:
        names = {f"#a{i}": k for i, k in enumerate(values)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"program_id": {"S": program_id}},
                UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(values))),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={f":a{i}": serialize_value(v) for i, v in enumerate(values.values())},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise Conflict("the lottery is not in the right state for this step", code="lottery_state") from exc
            raise

    # -- steps -------------------------------------------------------------------------------

    def commit(self, program_id: str, seed_sha256: str) -> dict[str, Any]:
        """Record SHA-256(seed) before the window closes; once only."""
        program = require_program(self._catalogue, program_id)
        if not isinstance(seed_sha256, str) or not _HEX64.match(seed_sha256):
            raise InvalidInput("seed_sha256 must be 64 lowercase hex characters", code="invalid_commitment")
        now = self._clock()
        if now >= program.application_closes_at:
            raise Conflict("commit before the application window closes", code="window_already_closed")
        self._update(program_id, {"seed_sha256": seed_sha256, "committed_at": now.isoformat(),
                                  "rules": rules(program)}, "attribute_not_exists(program_id)")
        return self.public_view(program_id)

    def draw(self, program_id: str, seed_hex: str) -> dict[str, Any]:
        """Reveal the seed and order the applicants; the result stays private until published."""
        program = require_program(self._catalogue, program_id)
        state = self._get(program_id)
        if state is None:
            raise Conflict("no seed was committed for this programme", code="lottery_not_committed")
        if not isinstance(seed_hex, str) or not _HEX64.match(seed_hex):
            raise InvalidInput("seed must be 64 lowercase hex characters", code="invalid_seed")
        if hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest() != state["seed_sha256"]:
            raise Conflict("the seed does not match the commitment", code="seed_mismatch")
        if self._clock() <= program.application_closes_at:
            raise Conflict("draw after the application window closes", code="window_still_open")
        applicants = [a for a in self._applications.list_for_program(program_id) if a["status"] == "received"]
        by_receipt = {a["receipt_number"]: a for a in applicants}
        ordered = draw_order(seed_hex, [Entry(a["receipt_number"], tier_of(a, program.priority_groups))
                                        for a in applicants])
        capacity = self._capacity.of(program)
        results = []
        for rank, entry in enumerate(ordered):
            if rank < capacity:
                outcome, position = "selected", None
            elif rank < capacity + program.waitlist_size:
                outcome, position = "waitlisted", rank - capacity + 1
            else:
                outcome, position = "not_selected", None
            results.append({
                "rank": rank + 1, "receipt_number": entry.receipt_number, "tier": entry.tier,
                "outcome": outcome, "waitlist_position": position,
                "application_id": by_receipt[entry.receipt_number]["application_id"],
            })
        self._update(program_id, {"seed": seed_hex, "drawn_at": self._clock().isoformat(), "capacity": capacity,
                                  "results": results},
                     "attribute_exists(seed_sha256) AND attribute_not_exists(drawn_at)")
        return {"program_id": program_id, "applicants": len(results), "capacity": capacity,
                "selected": sum(r["outcome"] == "selected" for r in results),
                "waitlisted": sum(r["outcome"] == "waitlisted" for r in results)}

    def publish(self, program_id: str) -> dict[str, Any]:
        """Apply the draw to the applications, queue the e-mails, make the result public."""
        program = require_program(self._catalogue, program_id)
        state = self._get(program_id)
        if state is None or "drawn_at" not in state:
            raise Conflict("draw before publishing", code="lottery_not_drawn")
        if "published_at" in state:
            raise Conflict("the result is already published", code="lottery_already_published")
        # Marked published first: a crash below is finished by running publish's steps again
        # through promote(), which only ever moves applications forward.
        self._update(program_id, {"published_at": self._clock().isoformat()},
                     "attribute_exists(drawn_at) AND attribute_not_exists(published_at)")
        applied = 0
        for result in state["results"]:
            if self._apply(result):
                applied += 1
        self.promote(program)
        return {"program_id": program_id, "applied": applied}

    def _apply(self, result: dict[str, Any]) -> bool:
        application_id = result["application_id"]
        fields: dict[str, Any] = {}
        if result["outcome"] == "selected":
            fields["talent_address"] = self._talent_address(self._applications.get(application_id))
        if result["outcome"] == "waitlisted":
            fields["waitlist_position"] = result["waitlist_position"]
        _, mail = self._outbox.put_request(application_id, result["outcome"])
        try:
            self._applications.update_status(application_id, expected=("received",), status=result["outcome"],
                                              fields=fields, extra_writes=[mail])
        except Conflict:
            return False  # withdrawn since the draw, or already applied
        return True

    def promote(self, program: Program) -> list[str]:
        """Fill free seats from the waitlist, in order; returns the receipt numbers moved up."""
        applications = self._applications.list_for_program(program.id)
        selected = sum(a["status"] == "selected" for a in applications)
        waiting = sorted((a for a in applications if a["status"] == "waitlisted"),
                         key=lambda a: a["waitlist_position"])
        moved = []
        for application in waiting[: max(self._capacity.of(program) - selected, 0)]:
            _, mail = self._outbox.put_request(application["application_id"], "moved_up")
            try:
                self._applications.update_status(
                    application["application_id"], expected=("waitlisted",), status="selected",
                    fields={"talent_address": self._talent_address(application), "moved_up": True},
                    extra_writes=[mail],
                )
            except Conflict:
                continue
            moved.append(application["receipt_number"])
        return moved

    def _talent_address(self, application: dict[str, Any]) -> str:
        """The talent's own wallet if staff recorded one, else the derived pseudonymous address."""
        return application.get("talent_address") or self._talents.address_for(application["application_id"])

    # -- public ------------------------------------------------------------------------------

    def public_view(self, program_id: str) -> dict[str, Any]:
        """What the site shows: rules and commitment always, seed and result once published."""
        program = require_program(self._catalogue, program_id)
        state = self._get(program_id)
        view: dict[str, Any] = {"program_id": program_id, "rules": rules(program), "status": "not_committed"}
        if state is None:
            return view
        view.update(status="committed", seed_sha256=state["seed_sha256"], committed_at=state["committed_at"],
                    rules=state["rules"])
        if "published_at" in state:
            view.update(
                status="published", seed=state["seed"], drawn_at=state["drawn_at"],
                published_at=state["published_at"], capacity=state["capacity"],
                results=[{k: v for k, v in r.items() if k != "application_id"} for r in state["results"]],
            )
        elif "drawn_at" in state:
            view["status"] = "drawn"
        return view

