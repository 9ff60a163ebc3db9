"""Browser fixtures: the real local stack (``manabi dev`` in a subprocess) and Debian's chromium.

The stack runs in its own process so its environment (moto endpoint, contract
addresses) never leaks into the in-process tests. Its catalogue is a copy of
the real one with the application window moved around today, so the tests
don't depend on the date.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from manabi.localstack import free_port

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
    data = json.loads((REPO_ROOT / "functions/chalicelib/data/programs.json").read_text(encoding="utf-8"))
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for program in data["programs"]:
        program["application_opens_at"] = (now - dt.timedelta(days=1)).isoformat()
        program["application_closes_at"] = (now + dt.timedelta(days=30)).isoformat()
    catalogue = tmp_path_factory.mktemp("live") / "programs.json"
    catalogue.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MANABI_"))}
    env.update(MANABI_PROGRAMS_FILE=str(catalogue), MANABI_APPLY_RATE_LIMIT="100000")
    process = subprocess.Popen(
        [sys.executable, "-m", "manabi.cli", "dev", "--port", str(port), "--schedule-interval", "0.5"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    if process.poll() is not None:
        raise RuntimeError("manabi dev did not start:\n" + "".join(lines))
    # Keep reading its output, or a chatty stack would fill the pipe and block.
    import threading

    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    try:
        yield LiveStack(url=url, api=url + "/api", banner="".join(lines))
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


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
