"""An in-process local stack for the tooling tests; the process environment is restored after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from manabi.localstack import LocalStack, free_port
from tests.support import open_catalogue


@pytest.fixture
def restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def stack(restore_environ: None, tmp_path: Path) -> Iterator[LocalStack]:
    os.environ["MANABI_PROGRAMS_FILE"] = str(open_catalogue(tmp_path / "open.json"))
    local = LocalStack(port=free_port(), build_site=False, schedule_interval=0.2)
    local.start()
    try:
        yield local
    finally:
        local.stop()
