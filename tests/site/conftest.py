"""Fixtures for the public site: builds with the venv's mkdocs, as a subprocess."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.site.htmlscan import Element, parse

REPO = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).with_name("mkdocs")
CATALOGUE = REPO / "functions" / "chalicelib" / "data" / "programs.json"
JST = dt.timezone(dt.timedelta(hours=9))
WEEKDAYS = "月火水木金土日"


def jdate(day: dt.date) -> str:
    """The site's date format, written out independently of the hook: 2027年3月6日（土）."""
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


class BuiltSite:
    """A finished build: its directory and parsed pages."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, url: str) -> Path:
        """The file for a site URL such as ``apply/`` or ``index.html``."""
        target = self.root / url
        return target / "index.html" if url.endswith("/") or url == "" else target

    def page(self, url: str) -> Element:
        return parse(self.path(url))

    def html_files(self) -> list[Path]:
        return sorted(self.root.rglob("*.html"))

    def all_text(self) -> str:
        """Every HTML page plus the search index: what a visitor could see or find."""
        files = [*self.html_files(), self.root / "search" / "search_index.json"]
        return "\n".join(f.read_text(encoding="utf-8") for f in files)


def run_build(out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict -d out`` from the repository root, with extra environment."""
    # The caller's shell must not change what a test builds.
    environment = {k: v for k, v in os.environ.items() if k not in ("MANABI_PROGRAMS_FILE", "MANABI_API_BASE")}
    environment.update(NO_MKDOCS_2_WARNING="1", **env)
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--clean", "-d", str(out)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="session")
def build() -> Callable[..., BuiltSite]:
    """Build into a new directory; fails the test with mkdocs' output if the build fails."""

    def _build(out: Path, **env: str) -> BuiltSite:
        result = run_build(out, **env)
        assert result.returncode == 0, f"mkdocs build failed:\n{result.stdout}\n{result.stderr}"
        return BuiltSite(out)

    return _build


def real_catalogue() -> dict[str, Any]:
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def open_now(data: dict[str, Any], *, days: int = 60) -> dict[str, Any]:
    """``data`` with every programme's application window open from yesterday for ``days`` days,
    so tests of the form do not depend on today's date."""
    now = dt.datetime.now(JST).replace(microsecond=0)
    for program in data["programs"]:
        program["application_opens_at"] = (now - dt.timedelta(days=1)).isoformat()
        program["application_closes_at"] = (now + dt.timedelta(days=days)).isoformat()
    return data


@pytest.fixture(scope="session")
def site(build: Callable[..., BuiltSite], tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    """The site built from the real catalogue, with its application window open today."""
    folder = tmp_path_factory.mktemp("site")
    catalogue = folder / "programs.json"
    catalogue.write_text(json.dumps(open_now(real_catalogue()), ensure_ascii=False), encoding="utf-8")
    return build(folder / "out", MANABI_PROGRAMS_FILE=str(catalogue))


@pytest.fixture
def catalogue_data() -> dict[str, Any]:
    """A fresh copy of the real catalogue, to modify."""
    return real_catalogue()


@pytest.fixture
def write_catalogue(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def _write(data: dict[str, Any]) -> Path:
        path = tmp_path / "programs.json"
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    return _write
