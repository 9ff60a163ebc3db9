"""Benchmark the application route and the form page's weight on the local stack.

    .venv/bin/python bench/applications.py [--seconds 10] [--concurrency 4] [--max-requests 20000]
                                           [--keep-alive] [--page-budget 150000]

Starts ``manabi dev`` in a subprocess on a free port (a copy of the catalogue with the
application window open now, and ``MANABI_APPLY_RATE_LIMIT`` very high), then prints:

  1. sustained throughput and p50/p99 latency of ``POST /api/applications`` (valid bodies,
     a unique e-mail and a fresh ``Idempotency-Key`` each), with ``GET /api/health`` and
     ``GET /api/programs`` measured in the same run as the floor, and the ratios. A new
     connection per request by default: on a kept-alive connection the local server answers
     ~40 ms late (Nagle and delayed ACK; ``--keep-alive`` shows it);
  2. whether every 201 was stored exactly once (the staff list, by e-mail);
  3. the weight of the apply page: its HTML plus every stylesheet and script it loads
     (``<link rel=stylesheet>``, ``<script src>``, and Material's search worker named in
     ``__config``), raw and gzip -9, against a budget of 150 KB (150,000 bytes) compressed.

Each phase is bounded by ``--seconds`` and ``--max-requests``; everything stays on 127.0.0.1.
The stack is stopped with SIGINT (as Ctrl-C), then SIGTERM/SIGKILL if it hangs.
Exits 1 if the page is over budget, if any request failed, or if stored applications don't match.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from manabi.localstack import free_port  # noqa: E402

HOST = "127.0.0.1"
PAGE_BUDGET = 150_000  # bytes, gzip -9 of HTML + CSS + JS
START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0


# -- the stack ---------------------------------------------------------------------------------------


class Stack:
    """``manabi dev`` in a subprocess; its output is drained so a full pipe never blocks it."""

    def __init__(self, workdir: Path) -> None:
        data = json.loads((REPO / "functions/chalicelib/data/programs.json").read_text(encoding="utf-8"))
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        for program in data["programs"]:
            program["application_opens_at"] = (now - dt.timedelta(days=1)).isoformat()
            program["application_closes_at"] = (now + dt.timedelta(days=30)).isoformat()
        catalogue = workdir / "programs.json"
        catalogue.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MANABI_"))}
        env.update(MANABI_PROGRAMS_FILE=str(catalogue), MANABI_APPLY_RATE_LIMIT=str(10**9),
                   NO_MKDOCS_2_WARNING="1")
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "manabi.cli", "dev", "--port", str(self.port)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if len(self.lines) < 2000:
                self.lines.append(line)
            if "Press Ctrl-C" in line:
                self._ready.set()
        self._ready.set()  # ended: wait() sees the exit code

    def wait(self) -> None:
        if not self._ready.wait(START_TIMEOUT) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("manabi dev did not start:\n" + "".join(self.lines[-40:]))

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        return self.process.returncode


# -- load --------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # when each request was sent, same order
    statuses: Counter[int] = field(default_factory=Counter)
    created: list[str] = field(default_factory=list)  # e-mails answered 201

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), -(-p * len(ordered) // 100)))
        return ordered[int(rank) - 1] * 1000

    def thirds(self) -> tuple[Result, Result]:
        """The requests sent in the first and in the last third of the phase."""
        cut = self.seconds / 3
        first, last = Result(self.name), Result(self.name)
        for t, latency in zip(self.started, self.latencies):
            if t < cut:
                first.latencies.append(latency)
            elif t >= 2 * cut:
                last.latencies.append(latency)
        return first, last

    def errors(self, ok: int) -> int:
        return sum(n for status, n in self.statuses.items() if status != ok)


def application_body(program: dict[str, Any], email: str) -> bytes:
    session = next((s for s in program["sessions"] if s.get("childcare")), None)
    body = {
        "program_id": program["id"],
        "name": "山田 花子",
        "name_kana": "やまだ はなこ",
        "email": email,
        "phone": "09012345678",
        "postal_code": "6300123",
        "address": "奈良県まなびリレー市北町1-2-3",
        "lives_or_works_in_city": True,
        "children": [{"age": 3}, {"age": 0}],
        "childcare_requests": [{"session_id": session["id"], "children": 2}] if session else [],
        "work_styles": ["in_city", "telework"],
        "pc_environment": "own",
        "motivation": "子育てをしながら、ITの仕事に挑戦したいです。" * 8,
        "consent_privacy": True,
        "website": "",
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def run_phase(
    stack: Stack, name: str, method: str, path: str, *, ok: int, seconds: float, concurrency: int,
    max_requests: int, keep_alive: bool = False, body_for: Any = None,
) -> Result:
    """``concurrency`` clients sending as fast as answers come, until time or count runs out.

    Each request gets a new connection unless ``keep_alive``: on a reused connection the local
    stack's HTTP server answers about 40 ms late (headers and body go out in two writes; Nagle
    holds the second until the client's delayed ACK), which would swamp what is measured here.
    """
    result = Result(name)
    lock = threading.Lock()
    issued = 0
    start = time.perf_counter()
    deadline = start + seconds

    def worker(index: int) -> None:
        nonlocal issued
        conn = http.client.HTTPConnection(HOST, stack.port, timeout=30)
        latencies: list[float] = []
        started: list[float] = []
        statuses: Counter[int] = Counter()
        created: list[str] = []
        n = 0
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if issued >= max_requests:
                        break
                    issued += 1
                headers = {"Accept": "application/json"}
                payload = None
                email = ""
                if body_for is not None:
                    email = f"bench+{uuid.uuid4().hex[:16]}-{index}-{n}@example.jp"
                    payload = body_for(email)
                    headers.update({"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())})
                t0 = time.perf_counter()
                try:
                    conn.request(method, path, body=payload, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    status = 0
                if status == 0 or not keep_alive:
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, stack.port, timeout=30)
                latencies.append(time.perf_counter() - t0)
                started.append(t0 - start)
                statuses[status] += 1
                if status == ok and email:
                    created.append(email)
                n += 1
        finally:
            conn.close()
            with lock:
                result.latencies.extend(latencies)
                result.started.extend(started)
                result.statuses.update(statuses)
                result.created.extend(created)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    result.seconds = time.perf_counter() - start
    return result


def get_json(stack: Stack, path: str) -> Any:
    conn = http.client.HTTPConnection(HOST, stack.port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {data[:200]!r}")
        return json.loads(data)
    finally:
        conn.close()


# -- page weight -------------------------------------------------------------------------------------


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._in_config = False
        self.config = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and "stylesheet" in (a.get("rel") or "").split() and a.get("href"):
            self.styles.append(str(a["href"]))
        elif tag == "script" and a.get("src"):
            self.scripts.append(str(a["src"]))
        elif tag == "script" and a.get("id") == "__config":
            self._in_config = True

    def handle_data(self, data: str) -> None:
        if self._in_config:
            self.config += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_config = False


def on_stack(stack: Stack, url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname == HOST and parts.port == stack.port


def fetch(stack: Stack, url: str) -> bytes:
    if not on_stack(stack, url):
        raise RuntimeError(f"not on the local stack: {url}")
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(HOST, stack.port, timeout=30)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status}")
        return data
    finally:
        conn.close()


def page_weight(
    stack: Stack, path: str = "/apply/",
) -> tuple[list[tuple[str, str, int, int]], list[tuple[str, int, int]], list[str]]:
    """([(kind, url, raw, gzip)], [(url, raw, gzip)] the search worker fetches (not counted),
    [URLs the page would load from elsewhere] (never fetched: a failure))."""
    page_url = stack.url + path
    html = fetch(stack, page_url)
    parser = _Assets()
    parser.feed(html.decode("utf-8"))
    rows = [("html", page_url, html)]
    rows += [("css", urljoin(page_url, href), b"") for href in parser.styles]
    rows += [("js", urljoin(page_url, src), b"") for src in parser.scripts]
    extra: list[tuple[str, bytes]] = []
    if parser.config:
        config = json.loads(parser.config)
        base = urljoin(page_url, config.get("base", ".") + "/")
        if config.get("search"):  # Material starts its search worker on every page
            rows.append(("js", urljoin(page_url, config["search"]), b""))
            extra.append((urljoin(base, "search/search_index.json"), b""))
    outside = [url for _, url, _ in rows if not on_stack(stack, url)]
    rows = [row for row in rows if on_stack(stack, row[1])]
    table = []
    for kind, url, data in rows:
        data = data or fetch(stack, url)
        table.append((kind, url, len(data), len(gzip.compress(data, compresslevel=9, mtime=0))))
    others = []
    for url, _ in extra:
        data = fetch(stack, url)
        others.append((url, len(data), len(gzip.compress(data, compresslevel=9, mtime=0))))
    return table, others, outside


# -- main --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per measured route (default 10)")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel clients (default 4)")
    parser.add_argument("--max-requests", type=int, default=20000, help="cap per route (default 20000)")
    parser.add_argument("--keep-alive", action="store_true",
                        help="reuse connections (shows the local server's ~40 ms Nagle/delayed-ACK stall)")
    parser.add_argument("--page-budget", type=int, default=PAGE_BUDGET,
                        help=f"apply page budget in bytes, gzip -9 (default {PAGE_BUDGET:,})")
    args = parser.parse_args()
    if not (0 < args.seconds <= 600 and 0 < args.concurrency <= 64 and 0 < args.max_requests <= 10**6):
        parser.error("--seconds must be in (0, 600], --concurrency in [1, 64], --max-requests in [1, 10^6]")

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="manabi-bench-") as tmp:
        started = time.perf_counter()
        stack = Stack(Path(tmp))
        try:
            stack.wait()
            print(f"manabi dev on {stack.url} (started in {time.perf_counter() - started:.1f} s)")
            program = next(p for p in get_json(stack, "/api/programs")["programs"] if p["accepting_applications"])
            before = {a["email"] for a in get_json(stack, f"/api/admin/programs/{program['id']}/applications")[
                "applications"]}

            # warm-up: imports, first DynamoDB calls, idempotency table
            warm = dict(seconds=2.0, concurrency=1, max_requests=20)
            run_phase(stack, "warm", "GET", "/api/health", ok=200, **warm)
            run_phase(stack, "warm", "GET", "/api/programs", ok=200, **warm)
            warm_apps = run_phase(stack, "warm", "POST", "/api/applications", ok=201,
                                  body_for=lambda e: application_body(program, e), **warm)

            common = dict(seconds=args.seconds, concurrency=args.concurrency, max_requests=args.max_requests,
                          keep_alive=args.keep_alive)
            results = [
                run_phase(stack, "GET /api/health", "GET", "/api/health", ok=200, **common),
                run_phase(stack, "GET /api/programs", "GET", "/api/programs", ok=200, **common),
                run_phase(stack, "POST /api/applications", "POST", "/api/applications", ok=201,
                          body_for=lambda e: application_body(program, e), **common),
            ]
            health, programs, applications = results

            stored = [a["email"] for a in get_json(stack, f"/api/admin/programs/{program['id']}/applications")[
                "applications"] if a["email"] not in before]
            expected = warm_apps.created + applications.created
            weight, search_extra, outside = page_weight(stack)
        finally:
            code = stack.stop()

    print()
    connections = "keep-alive connections" if args.keep_alive else "a new connection per request"
    print(f"Throughput, {args.concurrency} clients, {connections}, {args.seconds:g} s per route (loopback):")
    print(f"  {'route':<26} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for r in results:
        statuses = ", ".join(f"{s or 'conn-error'}×{n}" for s, n in sorted(r.statuses.items()))
        print(f"  {r.name:<26} {r.count:>8} {r.rate:>8.1f} {r.percentile(50):>8.1f} {r.percentile(99):>8.1f}  {statuses}")
    for floor in (health, programs):
        if floor.rate and applications.rate:
            print(f"  POST /api/applications vs {floor.name}: {applications.rate / floor.rate:.2f}× the throughput, "
                  f"p50 {applications.percentile(50) / floor.percentile(50):.1f}× the latency")
    first, last = applications.thirds()
    print(f"  POST /api/applications p50 in the first / last third of its run: {first.percentile(50):.1f} / "
          f"{last.percentile(50):.1f} ms, with {len(before)} + {len(expected)} applications stored by the end")
    print("  (local stack only: moto deep-copies every table a TransactWriteItems touches, while holding the\n"
          "   stack's single DynamoDB write lock, so POST cost grows with the items stored; DynamoDB doesn't)")
    for r, ok in ((health, 200), (programs, 200), (applications, 201)):
        if r.errors(ok):
            failures.append(f"{r.name}: {r.errors(ok)} answers other than {ok}")
        if not r.count:
            failures.append(f"{r.name}: no requests completed")

    counts = Counter(stored)
    missing = set(expected) - set(stored)
    doubled = [e for e, n in counts.items() if n > 1]
    unexpected = set(stored) - set(expected)
    print(f"\nStored: {len(expected)} answered 201, {len(stored)} listed for staff; "
          f"{len(missing)} missing, {len(doubled)} stored twice, {len(unexpected)} unexpected")
    if missing or doubled or unexpected:
        failures.append("the staff list does not match the 201 answers")

    total_raw = sum(raw for _, _, raw, _ in weight)
    total_gz = sum(gz for _, _, _, gz in weight)
    print("\nApply page weight (HTML + CSS + JS it loads; gzip -9):")
    print(f"  {'kind':<5} {'raw':>9} {'gzip':>9}  url")
    for kind, url, raw, gz in weight:
        print(f"  {kind:<5} {raw:>9,} {gz:>9,}  {urlsplit(url).path}")
    for kind in ("html", "css", "js"):
        print(f"  {kind:<5} {sum(r for k, _, r, _ in weight if k == kind):>9,} "
              f"{sum(g for k, _, _, g in weight if k == kind):>9,}  (subtotal)")
    verdict = "PASS" if total_gz <= args.page_budget else "FAIL"
    print(f"  total {total_raw:>9,} {total_gz:>9,}  {verdict}: budget {args.page_budget:,} bytes compressed")
    for url, raw, gz in search_extra:
        print(f"  (not counted: {urlsplit(url).path} {raw:,} raw / {gz:,} gzip, data the search worker fetches)")
    if verdict == "FAIL":
        failures.append(f"apply page is {total_gz:,} bytes compressed, over {args.page_budget:,}")
    if outside:
        failures.append(f"apply page loads files from outside the stack: {outside}")

    print(f"\nmanabi dev stopped (exit code {code})")
    if code not in (0, None):
        failures.append(f"manabi dev exited with {code}")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
