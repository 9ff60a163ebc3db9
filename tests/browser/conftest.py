"""Browser fixtures: the real local stack (``manabi dev`` in a subprocess) and Debian's chromium.

The stack runs in its own process so its environment (moto endpoint, contract
addresses) never leaks into the in-process tests. Its catalogue is a copy of
the real one with the application window moved around today, so the tests
don't depend on the date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import ManabiDev, open_catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
PHONE = {"width": 360, "height": 780}


@dataclass
class LiveStack:
    url: str
    api: str
    banner: str

    def contract(self, name: str) -> str:
        match = re.search(rf'"{name}": "(0x[0-9a-fA-F]{{40}})"', self.banner)
        assert match, self.banner
        return match.group(1)


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    catalogue = open_catalogue(tmp_path_factory.mktemp("live") / "programs.json")
    stack = ManabiDev("--schedule-interval", "0.5",
                      env={"MANABI_PROGRAMS_FILE": str(catalogue), "MANABI_APPLY_RATE_LIMIT": "100000"})
    try:
        yield LiveStack(url=stack.url, api=stack.url + "/api", banner=stack.banner)
    finally:
        stack.stop()


@pytest.fixture
def phone_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A phone-sized page in Japanese; a screenshot is kept in test-artifacts/ afterwards.

    ``bypass_csp`` lets the tests inject axe-core; the site's own scripts run under its CSP.
    """
    context = browser.new_context(viewport=PHONE, locale="ja-JP", bypass_csp=True, device_scale_factor=1)
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()
