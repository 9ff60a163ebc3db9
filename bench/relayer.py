"""Benchmark the relayer (ledger + KMS signer + follow-up) on the embedded chain.

    .venv/bin/python bench/relayer.py [--txs 200] [--workers 1 4]

Everything runs in-process: moto for KMS (with the DIGEST patch) and DynamoDB (with
atomic conditional writes), the tables from ``chalicelib.tables.create_all``, our
contracts from ``manabi.deploy.deploy_contracts`` on py-evm behind the local stack's
locked provider. Each run anchors ``--txs`` distinct roots on LearningRecordAnchor:
every worker thread has its own :class:`TransactionSender` and DynamoDB client (as
separate Lambda containers would) and shares the one KMS key, calling ``send`` and
then ``wait`` for each of its roots.

Prints, per worker count: transactions/s from the first send to the last confirmation,
KMS calls per transaction (counted at botocore), DynamoDB calls per transaction; and a
baseline in the same process: the same anchor calls signed with a local eth_account key
and sent raw (gas estimate, fees, sign, send, receipt; no ledger, no KMS).

Exits 1 only if a relayed transaction took other than exactly one KMS Sign, or any
root was not anchored exactly once (checked against RecordsAnchored events, the
ledger's records, and the signer's nonce on chain).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "ap-northeast-1",
}.items():
    os.environ.setdefault(name, value)
os.environ.pop("AWS_ENDPOINT_URL", None)

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib.chain.contracts import contract  # noqa: E402
from chalicelib.chain.kms_signer import KmsSigner  # noqa: E402
from chalicelib.chain.provider import embedded_provider  # noqa: E402
from chalicelib.chain.sender import TransactionSender  # noqa: E402
from chalicelib.chain.transactions import TransactionStore, TxRecord  # noqa: E402
from chalicelib.config import Settings  # noqa: E402
from chalicelib.tables import create_all  # noqa: E402
from manabi.deploy import deploy_contracts  # noqa: E402
from manabi.moto_atomic import apply_dynamodb_atomic_writes  # noqa: E402
from manabi.moto_patch import apply_kms_digest_patch  # noqa: E402

URI = "s3://records/bench.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=200, help="anchors per run (default 200)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4], help="worker counts (default 1 4)")
    args = parser.parse_args()
    n = args.txs

    from eth_account import Account
    from web3 import Web3

    apply_kms_digest_patch()
    apply_dynamodb_atomic_writes()
    with mock_aws():
        kms = boto3.client("kms", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
        kms_calls = count_calls(kms, "kms")
        key_id = kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        signer = KmsSigner(kms, key_id)

        w3 = Web3(embedded_provider())
        funder, treasury = w3.eth.accounts[:2]
        local = Account.create()
        for address in (signer.address, local.address):
            funding = w3.eth.send_transaction({"from": funder, "to": address, "value": 10**20})
            w3.eth.wait_for_transaction_receipt(funding)
        deployment = deploy_contracts(w3, deployer=funder, operator=signer.address, treasury=treasury)
        anchor = contract(w3, "LearningRecordAnchor", deployment.anchor)
        recorder = anchor.functions.RECORDER_ROLE().call()
        grant = anchor.functions.grantRole(recorder, local.address).transact({"from": funder})
        w3.eth.wait_for_transaction_receipt(grant)

        # Every run starts from the same chain (py-evm's receipt and log lookups slow down as
        # the chain grows) and gets its own ledger tables; the KMS key stays the same.
        tester = w3.provider.ethereum_tester
        snapshot = tester.take_snapshot()
        runs: list[tuple[int, float, Counter[str], Counter[str]]] = []
        failures: list[str] = []
        for run, workers in enumerate(args.workers):
            tester.revert_to_snapshot(snapshot)
            run_settings = Settings(table_prefix=f"bench{run}-")
            create_all(run_settings, boto3.client("dynamodb"))
            roots = [bytes([run + 1]) + i.to_bytes(31, "big") for i in range(n)]
            before = Counter(kms_calls)
            rate, dynamo_calls, finals = run_relayer(w3, signer, run_settings, deployment, roots, workers)
            kms_used = Counter(kms_calls)
            kms_used.subtract(before)
            runs.append((workers, rate, kms_used, dynamo_calls))
            failures += [f"{workers} worker(s): {r.tx_id} {r.status} {r.error}"
                         for r in finals if r.status != "confirmed"]
            if kms_used["Sign"] != n:
                failures.append(f"{workers} worker(s): {kms_used['Sign']} KMS Sign calls for {n} transactions")
            failures += [f"{workers} worker(s): {problem}"
                         for problem in check_exactly_once(w3, anchor, run_settings, signer.address, roots, [])]

        tester.revert_to_snapshot(snapshot)
        baseline_roots = [b"\xff" + i.to_bytes(31, "big") for i in range(n)]
        baseline_rate = run_baseline(w3, local, deployment, baseline_roots)
        failures += [f"baseline: {problem}" for problem in check_exactly_once(w3, anchor, None, local.address, [],
                                                                              baseline_roots)]
        public_key_calls = kms_calls["GetPublicKey"]

    print(f"Relayer benchmark: {n} LearningRecordAnchor.anchor transactions per run")
    print("(moto KMS + DynamoDB in-process, py-evm chain behind the local stack's lock, send + wait per tx)")
    print()
    print(f"   {'':34} {'tx/s':>8} {'ms/tx':>8} {'vs local':>9}  KMS Sign/tx  DynamoDB calls/tx")
    print(f"   {'local eth_account key, raw, no ledger':34} {baseline_rate:8.1f} {1e3 / baseline_rate:8.2f} {1:9.2f}")
    for workers, rate, kms_used, dynamo_calls in runs:
        label = f"relayer, {workers} worker{'s' if workers > 1 else ''}"
        per_tx = " ".join(f"{op}={count / n:.2f}" for op, count in sorted(dynamo_calls.items()))
        print(f"   {label:34} {rate:8.1f} {1e3 / rate:8.2f} {rate / baseline_rate:9.2f}  "
              f"{kms_used['Sign'] / n:11.3f}  {sum(dynamo_calls.values()) / n:.2f} ({per_tx})")
    print()
    print(f"   KMS GetPublicKey calls over all runs: {public_key_calls} (cached by the signer)")
    print(f"   exactly once: {'yes' if not failures else 'NO'} (per run: {n} roots each anchored once,"
          f" ledger nonces 0..{n - 1} confirmed without gaps, signer nonce {n})")
    if failures:
        print("\nFAIL:")
        for failure in failures[:20]:
            print(f"   {failure}")
    return 1 if failures else 0


def count_calls(client: Any, service: str) -> Counter[str]:
    """Count API calls of ``client`` by operation, as botocore issues them."""
    calls: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register_first(f"before-call.{service}", record)
    return calls


def run_relayer(
    w3: Any, signer: KmsSigner, settings: Settings, deployment: Any, roots: list[bytes], workers: int
) -> tuple[float, Counter[str], list[TxRecord]]:
    """Anchor ``roots`` through ``workers`` senders in threads; return (tx/s, DynamoDB calls, final records)."""
    anchor = contract(w3, "LearningRecordAnchor", deployment.anchor)
    clients = [boto3.client("dynamodb") for _ in range(workers)]
    counters = [count_calls(client, "dynamodb") for client in clients]
    senders = [TransactionSender(w3, signer, TransactionStore(settings, client), fees=settings.fees)
               for client in clients]
    finals: list[TxRecord] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(workers + 1)

    def work(worker: int) -> None:
        sender = senders[worker]
        try:
            start.wait()
            for root in roots[worker::workers]:
                record = sender.send(purpose="anchor", to=deployment.anchor,
                                     data=anchor.encode_abi("anchor", args=[root, 1, URI]))
                final = sender.wait(record.tx_id, timeout=60, poll=0.002)
                with lock:
                    finals.append(final)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"a worker failed: {errors[0]!r}")
    dynamo_calls: Counter[str] = Counter()
    for counter in counters:
        dynamo_calls.update(counter)
    return len(roots) / elapsed, dynamo_calls, finals


def run_baseline(w3: Any, account: Any, deployment: Any, roots: list[bytes]) -> float:
    """The same calls signed with a local key and sent raw, one after another; returns tx/s."""
    anchor = contract(w3, "LearningRecordAnchor", deployment.anchor)
    chain_id = w3.eth.chain_id
    nonce = w3.eth.get_transaction_count(account.address)
    started = time.perf_counter()
    for root in roots:
        data = anchor.encode_abi("anchor", args=[root, 1, URI])
        call = {"from": account.address, "to": deployment.anchor, "data": data}
        gas = w3.eth.estimate_gas(call) * 125 // 100
        base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
        raw = account.sign_transaction({
            "type": 2, "chainId": chain_id, "nonce": nonce, "to": deployment.anchor, "data": data, "value": 0,
            "gas": gas, "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9,
        }).raw_transaction
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
        if receipt["status"] != 1:
            raise SystemExit(f"baseline transaction {nonce} failed")
        nonce += 1
    return len(roots) / (time.perf_counter() - started)


def check_exactly_once(
    w3: Any, anchor: Any, settings: Settings | None, signer: str, relayed: list[bytes], baseline: list[bytes]
) -> list[str]:
    """Compare RecordsAnchored events, the ledger (if ``settings``) and the chain; return what is wrong."""
    problems: list[str] = []
    events = Counter(bytes(log["args"]["root"]) for log in anchor.events.RecordsAnchored().get_logs(from_block=0))
    expected = Counter({root: 1 for root in [*relayed, *baseline]})
    if events != expected:
        wrong = [root.hex() for root in set(events) | set(expected) if events[root] != expected[root]]
        problems.append(f"{len(wrong)} roots not anchored exactly once, e.g. {wrong[:3]}")
    sent = len(relayed) + len(baseline)
    if w3.eth.get_transaction_count(signer) != sent:
        problems.append(f"signer nonce {w3.eth.get_transaction_count(signer)} != {sent} transactions")
    if settings is None:
        return problems
    client = boto3.client("dynamodb")
    store = TransactionStore(settings, client)
    records = [store.get(item["tx_id"]["S"])
               for page in client.get_paginator("scan").paginate(TableName=f"{settings.table_prefix}transactions")
               for item in page["Items"]]
    nonces = sorted(r.nonce for r in records if r.signer == signer and r.status == "confirmed")
    if nonces != list(range(len(relayed))):
        problems.append(f"ledger nonces are not 0..{len(relayed) - 1}: {len(nonces)} confirmed records")
    if len(records) != len(relayed) or any(r.is_open for r in records):
        problems.append(f"{len(records)} records for {len(relayed)} intents, {sum(r.is_open for r in records)} open")
    return problems


if __name__ == "__main__":
    sys.exit(main())
