"""Cold-start cost of the API handler module, against ``import web3`` in the same run.

Each figure is the median wall time of a fresh interpreter importing the
module (interpreter start-up subtracted), so it is what a new Lambda container
pays before its first request. Target: the handler costs under 40% of web3.

    .venv/bin/python bench/coldstart.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.40


def timed_import(statement: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], cwd=REPO_ROOT / "functions", check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    baseline = timed_import("pass", args.runs)
    handler = timed_import("import app", args.runs) - baseline
    web3 = timed_import("import web3", args.runs) - baseline
    leaked = subprocess.run(
        [sys.executable, "-c", "import sys, app; print(sorted(m for m in ('web3', 'eth_account', 'eth_abi') if m in sys.modules))"],
        cwd=REPO_ROOT / "functions", check=True, capture_output=True, text=True,
    ).stdout.strip()
    ratio = handler / web3
    print(f"interpreter start-up      {baseline * 1000:8.1f} ms (subtracted below)")
    print(f"import app (API handler)  {handler * 1000:8.1f} ms")
    print(f"import web3 (baseline)    {web3 * 1000:8.1f} ms")
    print(f"ratio                     {ratio:8.1%}  (target < {TARGET_RATIO:.0%})")
    print(f"chain modules loaded by the handler import: {leaked}")
    ok = ratio < TARGET_RATIO and leaked == "[]"
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
