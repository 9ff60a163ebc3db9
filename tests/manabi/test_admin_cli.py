"""``manabi admin``: staff list, export, run the lottery and sponsor the rest, through the staff API."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import urllib.request

import pytest

from manabi.cli import main
from manabi.demo import DEMO_TALENTS
from manabi.localstack import LocalStack
from tests.factories import application_body
from tests.support import catalogue_with_window

PROGRAM = "it-basics-2027-spring"


def apply(stack: LocalStack, **overrides) -> dict:
    assert stack.info is not None
    request = urllib.request.Request(
        stack.info.api_url + "/applications", data=json.dumps(application_body(**overrides)).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def admin(stack: LocalStack, *args: str) -> int:
    assert stack.info is not None
    return main(["admin", "--api", stack.info.api_url, *args])


def test_list_and_export_applications(stack, capsys, tmp_path):
    receipts = [apply(stack)["receipt_number"] for _ in range(3)]
    assert admin(stack, "applications", "list", "--program", PROGRAM) == 0
    out = capsys.readouterr().out
    assert all(r in out for r in receipts)
    assert f"{3 + len(DEMO_TALENTS)} applications" in out  # the demo talents are listed too
    assert out.count("受付済み") >= 3

    target = tmp_path / "export.csv"
    assert admin(stack, "applications", "export", "--program", PROGRAM, "--out", str(target)) == 0
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM, for Excel
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("受付番号,受付日時,状態")
    assert all(r in text for r in receipts)
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_the_lottery_from_the_command_line(stack, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(4):
        apply(stack)
    assert admin(stack, "lottery", "commit", "--program", PROGRAM) == 0
    seed = (tmp_path / f"lottery-seed-{PROGRAM}.txt").read_text().strip()
    assert hashlib.sha256(bytes.fromhex(seed)).hexdigest() in capsys.readouterr().out
    with pytest.raises(SystemExit, match="window_still_open"):
        admin(stack, "lottery", "draw", "--program", PROGRAM)

    # The window closes (the stack reads the catalogue per request).
    now = dt.datetime.now(dt.timezone.utc)
    os.environ["MANABI_PROGRAMS_FILE"] = str(catalogue_with_window(
        tmp_path / "closed.json", now - dt.timedelta(days=30), now - dt.timedelta(seconds=1)))
    assert admin(stack, "lottery", "draw", "--program", PROGRAM) == 0
    assert "4 applicants" in capsys.readouterr().out
    assert admin(stack, "lottery", "publish", "--program", PROGRAM) == 0
    with urllib.request.urlopen(f"{stack.info.api_url}/programs/{PROGRAM}/lottery") as response:
        published = json.loads(response.read())
    assert published["status"] == "published" and published["seed"] == seed
    assert len(published["results"]) == 4


def test_sponsor_remaining_from_the_command_line(stack, capsys):
    # The demo data has four selected talents waiting for a sponsor.
    assert admin(stack, "sponsor-remaining", "--program", PROGRAM, "--budget", "110000") == 0
    out = capsys.readouterr().out
    assert "2 talents sponsored by the city, 110,000 JPYC spent, 0 JPYC left; 2 still waiting" in out


def test_errors_are_reported_without_a_traceback(stack):
    with pytest.raises(SystemExit, match="error 404: program_not_found"):
        admin(stack, "applications", "list", "--program", "no-such-course")
