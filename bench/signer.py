"""Benchmark the KMS signer on the embedded chain.

    .venv/bin/python bench/signer.py [--txs 200]

Prints figures only:
  1. KMS-signed EIP-1559 transactions/s end to end (moto in-process with the DIGEST patch,
     ``Web3(EthereumTesterProvider())``: build, sign, send_raw_transaction, wait receipt),
     against the same transactions signed with a local eth_account key, and with the
     signer's pure-Python fallback (coincurve hidden);
  2. the signer's cost per signature, split into the KMS call (botocore before/after-call
     hooks) and the rest (DER decode, low-s, recovery id);
  3. KMS calls per transaction (Sign and GetPublicKey, counted at botocore);
  4. recovery cost: coincurve vs eth_keys' pure-Python backend.

Exits 1 only if a transaction took other than exactly one KMS Sign call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "ap-northeast-1",
}.items():
    os.environ.setdefault(name, value)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib.chain.kms_signer import KmsSigner  # noqa: E402
from manabi.moto_patch import apply_kms_digest_patch  # noqa: E402

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=200, help="transactions per run (default 200)")
    args = parser.parse_args()
    n = args.txs

    from eth_account import Account
    from web3 import EthereumTesterProvider, Web3

    apply_kms_digest_patch()
    with mock_aws():
        kms = boto3.client("kms", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
        calls = count_calls(kms)
        kms_timer = time_kms_sign(kms)

        # -- 1. end to end -----------------------------------------------------------------
        w3 = Web3(EthereumTesterProvider())
        signer = KmsSigner(kms, new_key(kms))
        kms_rate, kms_sign_s = run_chain(w3, signer.address, signer.sign_transaction, n)
        sign_calls, public_key_calls = calls["Sign"], calls["GetPublicKey"]
        signer_counts = (signer.sign_calls, signer.throttled_retries)
        kms_per_sign = list(kms_timer)

        local = Account.create()
        local_rate, local_sign_s = run_chain(w3, local.address, lambda tx: local.sign_transaction(tx).raw_transaction, n)

        with coincurve_hidden():
            slow_signer = KmsSigner(kms, new_key(kms))
            slow_rate, slow_sign_s = run_chain(w3, slow_signer.address, slow_signer.sign_transaction, n)

        # -- 2. cost per signature ---------------------------------------------------------
        kms_timer.clear()
        raw_signatures: list[bytes] = []
        kms.meta.events.register("after-call.kms.Sign", lambda parsed, **_: raw_signatures.append(parsed["Signature"]))
        digests = [os.urandom(32) for _ in range(n)]
        signatures = []
        started = time.perf_counter()
        for digest in digests:
            signatures.append(signer.sign_digest(digest))
        per_signature = (time.perf_counter() - started) / n
        kms_call = statistics.fmean(kms_timer)

    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    flipped = sum(decode_dss_signature(der)[1] > SECP256K1_N // 2 for der in raw_signatures)
    second_id = sum(recovery_id for recovery_id, _, _ in signatures)

    # -- 4. recovery backends --------------------------------------------------------------
    coincurve_ms = time_recovery(recover_coincurve, digests, signatures)
    native_ms = time_recovery(recover_native, digests[:50], signatures[:50])

    print(f"KmsSigner benchmark: {n} EIP-1559 transactions per run, moto KMS in-process, py-evm chain")
    print()
    print("1. End to end (build, sign, send_raw_transaction, receipt)")
    print(f"   local eth_account key               {local_rate:7.1f} tx/s   sign {local_sign_s * 1e3 / n:6.2f} ms/tx")
    print(f"   KMS signer, coincurve recovery      {kms_rate:7.1f} tx/s   sign {kms_sign_s * 1e3 / n:6.2f} ms/tx")
    print(f"   KMS signer, pure-Python eth_keys    {slow_rate:7.1f} tx/s   sign {slow_sign_s * 1e3 / n:6.2f} ms/tx")
    print(f"   KMS / local throughput ratio        {kms_rate / local_rate:7.2f}   (pure Python: {slow_rate / local_rate:.2f})")
    print()
    print("2. Signer cost per signature (sign_digest, coincurve)")
    print(f"   total                               {per_signature * 1e3:7.3f} ms")
    print(f"   KMS Sign call (moto in-process)     {kms_call * 1e3:7.3f} ms")
    print(f"   DER decode + low-s + recovery id    {(per_signature - kms_call) * 1e3:7.3f} ms")
    print(f"   (KMS Sign during the coincurve chain run: mean {statistics.fmean(kms_per_sign) * 1e3:.3f} ms)")
    print(f"   needed the low-s flip               {flipped * 100 / n:7.1f} %")
    print(f"   recovery attempts per signature     {1 + second_id / n:7.2f}   (recovery id 1 in {second_id * 100 / n:.1f} %)")
    print()
    print("3. KMS calls per transaction (coincurve run, counted at botocore)")
    print(f"   Sign                                {sign_calls / n:7.3f}   ({sign_calls} for {n} tx)")
    print(f"   GetPublicKey                        {public_key_calls / n:7.3f}   ({public_key_calls} for the signer's lifetime)")
    print(f"   signer.sign_calls, throttled_retries {signer_counts[0]:6d}, {signer_counts[1]}")
    print()
    print("4. Public-key recovery, per attempt")
    print(f"   coincurve (libsecp256k1)            {coincurve_ms:7.3f} ms")
    print(f"   eth_keys NativeECCBackend           {native_ms:7.3f} ms   ({native_ms / coincurve_ms:.0f}x slower)")

    ok = sign_calls == n and public_key_calls == 1
    if not ok:
        print(f"\nFAIL: expected exactly {n} Sign and 1 GetPublicKey, got {sign_calls} and {public_key_calls}")
    return 0 if ok else 1


def new_key(kms: Any) -> str:
    return kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]


def count_calls(kms: Any) -> Counter[str]:
    calls: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    kms.meta.events.register_first("before-call.kms", record)
    return calls


def time_kms_sign(kms: Any) -> list[float]:
    """Wall time of each KMS Sign call, from botocore's before-call to after-call events."""
    durations: list[float] = []
    started: list[float] = []
    kms.meta.events.register("before-call.kms.Sign", lambda **_: started.append(time.perf_counter()))
    kms.meta.events.register("after-call.kms.Sign", lambda **_: durations.append(time.perf_counter() - started.pop()))
    return durations


def run_chain(w3: Any, sender: str, sign: Callable[[dict[str, Any]], bytes], n: int) -> tuple[float, float]:
    """Fund ``sender``, then send ``n`` signed transfers; return (tx/s, seconds spent signing)."""
    funder = w3.eth.accounts[0]
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": funder, "to": sender, "value": 10**20}))
    chain_id = w3.eth.chain_id
    sign_seconds = 0.0
    started = time.perf_counter()
    for nonce in range(n):
        base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
        tx = {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "to": funder,
            "value": 10**12,
            "gas": 21_000,
            "maxFeePerGas": 2 * base_fee + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        t = time.perf_counter()
        raw = sign(tx)
        sign_seconds += time.perf_counter() - t
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
        if receipt["status"] != 1 or receipt["from"] != sender:
            raise SystemExit(f"transaction {nonce} failed: {receipt}")
    return n / (time.perf_counter() - started), sign_seconds


@contextmanager
def coincurve_hidden() -> Iterator[None]:
    """Make ``import coincurve`` fail, as on a deployment without the wheel."""
    saved = sys.modules.get("coincurve")
    sys.modules["coincurve"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if saved is None:
            del sys.modules["coincurve"]
        else:
            sys.modules["coincurve"] = saved


def recover_coincurve(digest: bytes, recovery_id: int, r: int, s: int) -> bytes:
    from coincurve import PublicKey

    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([recovery_id])
    return PublicKey.from_signature_and_message(signature, digest, hasher=None).format(compressed=False)[1:]


def recover_native(digest: bytes, recovery_id: int, r: int, s: int) -> bytes:
    from eth_keys.backends import NativeECCBackend
    from eth_keys.datatypes import Signature

    signature = Signature(vrs=(recovery_id, r, s), backend=NativeECCBackend())
    return signature.recover_public_key_from_msg_hash(digest).to_bytes()


def time_recovery(recover: Callable[..., bytes], digests: list[bytes], signatures: list[tuple[int, int, int]]) -> float:
    started = time.perf_counter()
    for digest, (recovery_id, r, s) in zip(digests, signatures):
        recover(digest, recovery_id, r, s)
    return (time.perf_counter() - started) * 1e3 / len(digests)


if __name__ == "__main__":
    sys.exit(main())
