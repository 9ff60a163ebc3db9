"""Helpers shared by fixtures and tests: catalogues with a chosen window, ``manabi dev`` in a subprocess."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from manabi.localstack import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = REPO_ROOT / "functions" / "chalicelib" / "data" / "programs.json"


def catalogue_with_window(path: Path, opens: dt.datetime, closes: dt.datetime) -> Path:
    """A copy of the real catalogue whose application windows run from ``opens`` to ``closes``."""
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    for program in data["programs"]:
        program["application_opens_at"] = opens.isoformat()
        program["application_closes_at"] = closes.isoformat()
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def open_catalogue(path: Path) -> Path:
    """A copy of the real catalogue whose window opened yesterday and closes in 30 days."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return catalogue_with_window(path, now - dt.timedelta(days=1), now + dt.timedelta(days=30))


class ManabiDev:
    """``manabi dev`` in its own process, so its environment never leaks into the tests'."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MANABI_"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "manabi.cli", "dev", "--port", str(self.port), *args],
            cwd=REPO_ROOT, env={**clean, **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.process.stdout is not None
        lines = []
        for line in self.process.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        self.banner = "".join(lines)
        if self.process.poll() is not None:
            raise RuntimeError("manabi dev did not start:\n" + self.banner)
        # Keep reading, or a chatty stack would fill the pipe and block.
        self._rest: list[str] = []
        self._reader = threading.Thread(target=lambda: self._rest.extend(self.process.stdout), daemon=True)
        self._reader.start()

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, then (exit code, what it printed after the banner)."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        return code, "".join(self._rest)
