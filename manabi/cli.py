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


def _deploy_contracts(args: argparse.Namespace) -> int:
    import boto3
    from web3 import HTTPProvider, Web3

    from chalicelib.chain.kms_signer import KmsSigner
    from manabi.deploy import deploy_contracts

    w3 = Web3(HTTPProvider(args.rpc_url, request_kwargs={"timeout": 30}))
    signer = KmsSigner(boto3.client("kms"), args.kms_key_id)
    print(f"Deploying from the KMS key {args.kms_key_id} ({signer.address}) to chain {w3.eth.chain_id}…", flush=True)
    deployment = deploy_contracts(w3, deployer=signer, operator=args.operator or signer.address,
                                  treasury=args.treasury, jpyc=args.jpyc)
    print("Put these into the stage's environment_variables in functions/.chalice/config.json:")
    for name, address in (("JPYC", deployment.jpyc), ("RIGHTS", deployment.rights),
                          ("DISTRIBUTOR", deployment.distributor), ("ANCHOR", deployment.anchor)):
        print(f'  "MANABI_{name}_ADDRESS": "{address}",')
    print(f'  "MANABI_CHAIN_ID": "{deployment.chain_id}",')
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

    deploy = commands.add_parser("deploy-contracts", help="deploy the contracts with the KMS operator key")
    deploy.add_argument("--rpc-url", required=True, help="JSON-RPC endpoint of the target chain")
    deploy.add_argument("--kms-key-id", default="alias/manabi-operator")
    deploy.add_argument("--treasury", required=True, help="address the payouts are drawn from")
    deploy.add_argument("--jpyc", required=True, help="JPYC token address (the same on Ethereum and Polygon)")
    deploy.add_argument("--operator", help="address given the operator roles (default: the KMS key)")
    deploy.set_defaults(func=_deploy_contracts)

    from manabi.admin import add_parser

    add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
