"""``manabi``: the local stack and the city staff's tools.

    manabi dev [--port 8000] [--rpc-url URL] [--no-demo-data]
    manabi package OUT [--stage prod]
    manabi admin ...   (see manabi/admin.py)
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading


def _dev(args: argparse.Namespace) -> int:
    from manabi.localstack import LocalStack, describe

    stack = LocalStack(
        port=args.port,
        rpc_url=args.rpc_url,
        demo_data=not args.no_demo_data,
        schedule_interval=args.schedule_interval,
    )
    stopped = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        info = stack.start()
    except Exception:
        stack.stop()
        raise
    print(describe(info), flush=True)
    stopped.wait()
    print("Stopping…", flush=True)
    stack.stop()
    print("Stopped.", flush=True)
    return 0


def _package(args: argparse.Namespace) -> int:
    from pathlib import Path

    from manabi.package import package

    out = package(Path(args.out), stage=args.stage)
    print(f"Wrote {out}/sam.json and {out}/deployment.zip (stage {args.stage}).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="manabi", description="Manabi Relay (まなびリレー) tools")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="start the whole system locally (moto, py-evm, API, site)")
    dev.add_argument("--port", type=int, default=8000, help="HTTP port on 127.0.0.1 (default 8000)")
    dev.add_argument("--rpc-url", default=None, help="use this JSON-RPC node instead of the embedded chain")
    dev.add_argument("--no-demo-data", action="store_true", help="start without the demo programme and sponsors")
    dev.add_argument("--schedule-interval", type=float, default=5.0, help="seconds between scheduled job runs")
    dev.set_defaults(func=_dev)

    pack = commands.add_parser("package", help="write the SAM template and Lambda zip for a stage")
    pack.add_argument("out", help="output directory")
    pack.add_argument("--stage", default="prod")
    pack.set_defaults(func=_package)

    from manabi.admin import add_parser

    add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
