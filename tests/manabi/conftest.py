"""An in-process local stack for the tooling tests; the process environment is restored after."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from manabi.localstack import LocalStack, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def catalogue_with_window(path: Path, opens: dt.datetime, closes: dt.datetime) -> Path:
    data = json.loads((REPO_ROOT / "functions/chalicelib/data/programs.json").read_text(encoding="utf-8"))
    for program in data["programs"]:
        program["application_opens_at"] = opens.isoformat()
        program["application_closes_at"] = closes.isoformat()
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def stack(restore_environ: None, tmp_path: Path) -> Iterator[LocalStack]:
    now = dt.datetime.now(dt.timezone.utc)
    os.environ["MANABI_PROGRAMS_FILE"] = str(catalogue_with_window(
        tmp_path / "open.json", now - dt.timedelta(days=1), now + dt.timedelta(days=30)))
    local = LocalStack(port=free_port(), build_site=False, schedule_interval=0.2)
    local.start()
    try:
        yield local
    finally:
        local.stop()
