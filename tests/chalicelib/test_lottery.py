"""The selection: committed seed, reproducible draw, priority groups, waitlist, published result."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import secrets
from pathlib import Path

import pytest

from chalicelib import services
from chalicelib.applications.form import parse_application
from chalicelib.errors import Conflict
from chalicelib.lottery import Lottery
from chalicelib.programs import cached_catalogue
from tests.factories import application_body
from tests.fixtures.app import sent_mails

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM_ID = "it-basics-2027-spring"


def _verify_script():
    spec = importlib.util.spec_from_file_location("verify_lottery", REPO_ROOT / "site/lottery/verify_lottery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lottery(settings, catalogue_file, mail_identity, talent_key, clock) -> Lottery:
    import boto3

    from chalicelib.talents import TalentIdentities

    return Lottery(
        settings, boto3.client("dynamodb"), cached_catalogue(), services.application_store(settings),
        services.outbox(settings), services.capacity(settings),
        TalentIdentities(boto3.client("kms"), settings.talent_key_id), clock=clock,
    )


def apply(settings, count: int, **overrides) -> list[dict]:
    service = services.applications(settings)
    results = []
    for _ in range(count):
        body = application_body(**overrides)
        results.append(service.submit(parse_application(body, service.program_for(body))))
    return results


def close_window(clock: Clock) -> None:
    clock.now = cached_catalogue().program(PROGRAM_ID).application_closes_at + dt.timedelta(seconds=1)


def run_lottery(lottery: Lottery, clock: Clock, seed: str) -> dict:
    lottery.commit(PROGRAM_ID, hashlib.sha256(bytes.fromhex(seed)).hexdigest())
    close_window(clock)
    lottery.draw(PROGRAM_ID, seed)
    lottery.publish(PROGRAM_ID)
    return lottery.public_view(PROGRAM_ID)


def test_the_published_result_is_reproducible_from_the_published_data(settings, lottery, clock):
    services.capacity(settings).set(cached_catalogue().program(PROGRAM_ID), 5)
    apply(settings, 12, lives_or_works_in_city=True, childcare_requests=[])
    apply(settings, 8, lives_or_works_in_city=False, childcare_requests=[])
    published = run_lottery(lottery, clock, secrets.token_hex(32))

    assert published["status"] == "published"
    outcomes = [r["outcome"] for r in published["results"]]
    assert outcomes == ["selected"] * 5 + ["waitlisted"] * 10 + ["not_selected"] * 5
    assert [r["waitlist_position"] for r in published["results"][5:15]] == list(range(1, 11))
    assert "application_id" not in json.dumps(published)
    assert _verify_script().verify(published) == []


def test_the_verification_script_catches_a_tampered_result(settings, lottery, clock, tmp_path, capsys):
    apply(settings, 6)
    published = run_lottery(lottery, clock, secrets.token_hex(32))
    verify = _verify_script()
    path = tmp_path / "lottery.json"
    path.write_text(json.dumps(published), encoding="utf-8")
    assert verify.main(["verify_lottery.py", str(path)]) == 0
    assert "OK: 6 applicants" in capsys.readouterr().out

    tampered = json.loads(json.dumps(published))
    first, second = tampered["results"][0], tampered["results"][1]
    first["rank"], second["rank"] = second["rank"], first["rank"]
    assert verify.verify(tampered) != []
    tampered = dict(published, seed=secrets.token_hex(32))
    assert "the seed does not match the committed hash" in verify.verify(tampered)


def test_priority_groups_are_drawn_first(settings, lottery, clock):
    services.capacity(settings).set(cached_catalogue().program(PROGRAM_ID), 4)
    residents = {a["receipt_number"] for a in apply(settings, 4, lives_or_works_in_city=True)}
    apply(settings, 10, lives_or_works_in_city=False)
    published = run_lottery(lottery, clock, secrets.token_hex(32))
    selected = {r["receipt_number"] for r in published["results"] if r["outcome"] == "selected"}
    assert selected == residents
    assert [r["tier"] for r in published["results"]] == sorted(r["tier"] for r in published["results"])


def test_the_same_seed_gives_the_same_order(settings, lottery, clock):
    apply(settings, 9, lives_or_works_in_city=False)
    seed = secrets.token_hex(32)
    published = run_lottery(lottery, clock, seed)
    recomputed = sorted(published["results"], key=lambda r: hashlib.sha256(
        bytes.fromhex(seed) + r["receipt_number"].encode()).hexdigest())
    assert [r["receipt_number"] for r in recomputed] == [r["receipt_number"] for r in published["results"]]


def test_publishing_mails_everyone_and_gives_selected_talents_pseudonymous_addresses(settings, lottery, clock):
    services.capacity(settings).set(cached_catalogue().program(PROGRAM_ID), 2)
    # Same name and address for everyone: the derived addresses must still differ.
    apply(settings, 4)
    run_lottery(lottery, clock, secrets.token_hex(32))
    applications = services.application_store(settings).list_for_program(PROGRAM_ID)
    statuses = sorted(a["status"] for a in applications)
    assert statuses == ["selected", "selected", "waitlisted", "waitlisted"]
    addresses = [a["talent_address"] for a in applications if a["status"] == "selected"]
    assert len(set(addresses)) == 2
    assert all(a.startswith("0x") and len(a) == 42 for a in addresses)
    assert all("talent_address" not in a for a in applications if a["status"] != "selected")
    services.outbox(settings).deliver_due()  # the mail-retry schedule sends what publishing queued
    subjects = [m["subject"] for m in sent_mails()]
    assert sum("受講が決まりました" in s for s in subjects) == 2
    assert sum("補欠になりました" in s for s in subjects) == 2


def test_a_withdrawal_moves_the_waitlist_up(settings, lottery, clock, citizen_api):
    services.capacity(settings).set(cached_catalogue().program(PROGRAM_ID), 2)
    apply(settings, 4)
    published = run_lottery(lottery, clock, secrets.token_hex(32))
    store = services.application_store(settings)
    by_receipt = {a["receipt_number"]: a for a in store.list_for_program(PROGRAM_ID)}
    leaving = by_receipt[published["results"][0]["receipt_number"]]
    first_waiting = by_receipt[published["results"][2]["receipt_number"]]

    response = citizen_api.http.patch(
        f"/admin/applications/{leaving['application_id']}", body=json.dumps({"status": "withdrawn"}),
        headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert store.get(leaving["application_id"])["status"] == "withdrawn"
    moved = store.get(first_waiting["application_id"])
    assert moved["status"] == "selected"
    assert moved["talent_address"].startswith("0x")
    assert store.get(by_receipt[published["results"][3]["receipt_number"]]["application_id"])["status"] == "waitlisted"
    services.outbox(settings).deliver_due()
    assert any("繰り上げで受講が決まりました" in m["subject"] for m in sent_mails())


def test_raising_capacity_moves_the_waitlist_up(settings, lottery, clock, citizen_api):
    services.capacity(settings).set(cached_catalogue().program(PROGRAM_ID), 1)
    apply(settings, 3)
    published = run_lottery(lottery, clock, secrets.token_hex(32))
    response = citizen_api.http.put(f"/admin/programs/{PROGRAM_ID}/capacity", body=json.dumps({"capacity": 2}),
                                    headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert json.loads(response.body)["moved_up"] == [published["results"][1]["receipt_number"]]


def test_the_steps_refuse_the_wrong_order_and_the_wrong_seed(settings, lottery, clock):
    apply(settings, 2)
    seed = secrets.token_hex(32)
    with pytest.raises(Conflict) as caught:
        lottery.draw(PROGRAM_ID, seed)
    assert caught.value.code == "lottery_not_committed"
    lottery.commit(PROGRAM_ID, hashlib.sha256(bytes.fromhex(seed)).hexdigest())
    with pytest.raises(Conflict):
        lottery.commit(PROGRAM_ID, hashlib.sha256(b"another").hexdigest())  # once only
    with pytest.raises(Conflict) as caught:
        lottery.draw(PROGRAM_ID, seed)
    assert caught.value.code == "window_still_open"
    close_window(clock)
    with pytest.raises(Conflict) as caught:
        lottery.draw(PROGRAM_ID, secrets.token_hex(32))
    assert caught.value.code == "seed_mismatch"
    with pytest.raises(Conflict) as caught:
        lottery.publish(PROGRAM_ID)
    assert caught.value.code == "lottery_not_drawn"
    lottery.draw(PROGRAM_ID, seed)
    lottery.publish(PROGRAM_ID)
    with pytest.raises(Conflict) as caught:
        lottery.publish(PROGRAM_ID)
    assert caught.value.code == "lottery_already_published"


def test_committing_after_the_window_closed_is_refused(lottery, clock):
    close_window(clock)
    with pytest.raises(Conflict) as caught:
        lottery.commit(PROGRAM_ID, "ab" * 32)
    assert caught.value.code == "window_already_closed"


def test_the_public_view_hides_the_seed_until_published(settings, lottery, clock, citizen_api):
    seed = secrets.token_hex(32)
    commitment = hashlib.sha256(bytes.fromhex(seed)).hexdigest()
    response = citizen_api.http.post(f"/admin/programs/{PROGRAM_ID}/lottery/commit",
                                     body=json.dumps({"seed_sha256": commitment}),
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 201
    view = json.loads(citizen_api.http.get(f"/programs/{PROGRAM_ID}/lottery").body)
    assert view["status"] == "committed"
    assert view["seed_sha256"] == commitment
    assert "seed" not in view and "results" not in view
    assert view["rules"]["priority_groups"][0]["group"] == "lives_or_works_in_city"
