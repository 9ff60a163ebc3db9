"""KmsSigner against moto KMS (DIGEST-patched), checked by independent recovery.

Nothing here trusts the signer's own recovery: every signature is recovered with
coincurve, eth_keys' pure-Python backend or eth_account, and compared with an address
derived from the KMS public key via ``cryptography``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError
from coincurve import PublicKey as CoincurvePublicKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.typed_transactions import TypedTransaction
from eth_keys.backends import NativeECCBackend
from eth_keys.datatypes import Signature
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from chalicelib.chain.kms_signer import KmsSigner
from chalicelib.errors import SignerError

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
JPYC = "0xE7C3D8C9a439feDe00D2600032D5dB0Be71C3c29"


# -- helpers: independent recovery and botocore hooks -----------------------------------


def address_from_kms(kms_client: Any, key_id: str) -> str:
    """The address, derived with cryptography + keccak rather than the signer's own code."""
    spki = kms_client.get_public_key(KeyId=key_id)["PublicKey"]
    point = serialization.load_der_public_key(spki).public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return to_checksum_address(keccak(point[1:])[-20:])


def recover_with_coincurve(digest: bytes, recovery_id: int, r: int, s: int) -> str:
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([recovery_id])
    point = CoincurvePublicKey.from_signature_and_message(signature, digest, hasher=None).format(compressed=False)
    return to_checksum_address(keccak(point[1:])[-20:])


def recover_with_native_eth_keys(digest: bytes, recovery_id: int, r: int, s: int) -> str:
    signature = Signature(vrs=(recovery_id, r, s), backend=NativeECCBackend())
    return signature.recover_public_key_from_msg_hash(digest).to_checksum_address()


def count_calls(kms_client: Any) -> Counter[str]:
    """Count KMS operations as botocore issues them (before moto or any injection sees them)."""
    calls: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    kms_client.meta.events.register_first("before-call.kms", record)
    return calls


def error_response(code: str) -> tuple[AWSResponse, dict[str, Any]]:
    url = "https://kms.ap-northeast-1.amazonaws.com/"
    return AWSResponse(url, 400, {}, None), {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


def fail_sign(kms_client: Any, code: str, times: int | None = None) -> None:
    """Answer the next ``times`` Sign calls (all, if None) with a KMS error, as KMS would."""
    remaining = [times]

    def inject(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if remaining[0] == 0:
            return None
        if remaining[0] is not None:
            remaining[0] -= 1
        return error_response(code)

    kms_client.meta.events.register("before-call.kms.Sign", inject)


def answer_sign_with(kms_client: Any, signature: bytes) -> None:
    def inject(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        url = "https://kms.ap-northeast-1.amazonaws.com/"
        return AWSResponse(url, 200, {}, None), {"Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"}

    kms_client.meta.events.register("before-call.kms.Sign", inject)


def digest_of(i: int) -> bytes:
    return keccak(b"manabi-relay test digest %d" % i)


# -- address ---------------------------------------------------------------------------


def test_address_is_keccak_of_the_kms_public_key(kms_signer: KmsSigner, kms_client: Any, operator_key_id: str) -> None:
    assert kms_signer.address == address_from_kms(kms_client, operator_key_id)


def test_address_costs_one_get_public_key_for_the_signer_lifetime(kms_client: Any, operator_key_id: str) -> None:
    calls = count_calls(kms_client)
    signer = KmsSigner(kms_client, operator_key_id)
    assert calls["GetPublicKey"] == 0  # construction is free (Lambda cold start)

    for i in range(3):
        assert signer.address
        signer.sign_digest(digest_of(i))

    assert calls == Counter({"GetPublicKey": 1, "Sign": 3})


def test_an_alias_names_the_same_key(kms_signer: KmsSigner, kms_client: Any) -> None:
    by_alias = KmsSigner(kms_client, "alias/manabi-operator")
    recovery_id, r, s = by_alias.sign_digest(digest_of(0))

    assert by_alias.address == kms_signer.address
    assert recover_with_coincurve(digest_of(0), recovery_id, r, s) == kms_signer.address


# -- digests: low-s and recovery id -----------------------------------------------------


def test_two_hundred_digests_recover_low_s_and_exercise_both_branches(kms_signer: KmsSigner, kms_client: Any) -> None:
    raw_signatures: list[bytes] = []
    kms_client.meta.events.register(
        "after-call.kms.Sign", lambda parsed, **_: raw_signatures.append(parsed["Signature"])
    )
    address = kms_signer.address
    flipped = 0
    recovery_ids: Counter[int] = Counter()

    for i in range(200):
        digest = digest_of(i)
        recovery_id, r, s = kms_signer.sign_digest(digest)

        kms_r, kms_s = decode_dss_signature(raw_signatures[i])
        assert r == kms_r
        if kms_s > SECP256K1_N // 2:
            flipped += 1
            assert s == SECP256K1_N - kms_s
        else:
            assert s == kms_s
        assert 0 < s <= SECP256K1_N // 2
        assert recover_with_coincurve(digest, recovery_id, r, s) == address
        if i < 40:  # pure Python is ~5 ms a recovery: a sample is enough
            assert recover_with_native_eth_keys(digest, recovery_id, r, s) == address
        recovery_ids[recovery_id] += 1

    # DOMAIN.md: about 46% of KMS signatures need the flip. Both branches must have run.
    assert 40 <= flipped <= 160, flipped
    assert recovery_ids[0] > 0 and recovery_ids[1] > 0, recovery_ids
    assert kms_signer.sign_calls == 200 and kms_signer.throttled_retries == 0


def test_digest_must_be_32_bytes(kms_signer: KmsSigner, kms_client: Any) -> None:
    calls = count_calls(kms_client)
    for bad in (b"", b"\x00" * 31, b"\x00" * 33, "00" * 32):
        with pytest.raises(ValueError, match="32 bytes"):
            kms_signer.sign_digest(bad)  # type: ignore[arg-type]
    assert calls["Sign"] == 0


# -- messages and typed data --------------------------------------------------------------


def test_sign_message_recovers_with_eth_account(kms_signer: KmsSigner) -> None:
    text = "まなびリレー: operator check 2024-06"
    signature = kms_signer.sign_message(text)

    assert len(signature) == 65 and signature[64] in (27, 28)
    assert Account.recover_message(encode_defunct(text=text), signature=signature) == kms_signer.address


def permit_typed_data(owner: str) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {"name": "JPY Coin", "version": "1", "chainId": 137, "verifyingContract": JPYC},
        "message": {
            "owner": owner,
            "spender": "0x" + "22" * 20,
            "value": 55_000 * 10**18,
            "nonce": 0,
            "deadline": 2**32,
        },
    }


def test_sign_typed_data_recovers_with_eth_account(kms_signer: KmsSigner) -> None:
    typed = permit_typed_data(kms_signer.address)
    signature = kms_signer.sign_typed_data(typed)

    assert len(signature) == 65 and signature[64] in (27, 28)
    assert Account.recover_message(encode_typed_data(full_message=typed), signature=signature) == kms_signer.address


# -- transactions ---------------------------------------------------------------------------


def eip1559_tx(nonce: int = 0, **overrides: Any) -> dict[str, Any]:
    tx = {
        "type": 2,
        "chainId": 137,
        "nonce": nonce,
        "to": to_checksum_address("0x" + "11" * 20),
        "value": 12345,
        "data": b"\x12\x34",
        "gas": 50_000,
        "maxFeePerGas": 30 * 10**9,
        "maxPriorityFeePerGas": 2 * 10**9,
        "accessList": [],
    }
    return {**tx, **overrides}


def test_sign_transaction_recovers_and_round_trips_fields(kms_signer: KmsSigner) -> None:
    tx = eip1559_tx(nonce=7)
    raw = kms_signer.sign_transaction(tx)

    assert raw[0] == 2
    assert Account.recover_transaction(raw) == kms_signer.address
    decoded = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    for field in ("chainId", "nonce", "value", "gas", "maxFeePerGas", "maxPriorityFeePerGas"):
        assert decoded[field] == tx[field], field
    assert to_checksum_address(decoded["to"]) == tx["to"]
    assert bytes(decoded["data"]) == tx["data"]
    assert decoded["v"] in (0, 1) and decoded["s"] <= SECP256K1_N // 2


def test_sign_transaction_accepts_its_own_from_and_rejects_others(kms_signer: KmsSigner) -> None:
    raw = kms_signer.sign_transaction(eip1559_tx(**{"from": kms_signer.address.lower()}))
    assert Account.recover_transaction(raw) == kms_signer.address

    with pytest.raises(ValueError, match="not the KMS signer"):
        kms_signer.sign_transaction(eip1559_tx(**{"from": "0x" + "33" * 20}))


def test_sign_transaction_refuses_legacy_transactions(kms_signer: KmsSigner, kms_client: Any) -> None:
    calls = count_calls(kms_client)
    legacy = {k: v for k, v in eip1559_tx().items() if not k.startswith("max") and k != "type"}
    with pytest.raises(ValueError, match="EIP-1559"):
        kms_signer.sign_transaction({**legacy, "gasPrice": 10**9})
    with pytest.raises(ValueError, match="EIP-1559"):
        kms_signer.sign_transaction(eip1559_tx(type=1))
    assert calls["Sign"] == 0


def test_kms_signed_transactions_are_mined_by_eth_tester(kms_client: Any, operator_key_id: str) -> None:
    from web3 import EthereumTesterProvider, Web3

    w3 = Web3(EthereumTesterProvider())
    calls = count_calls(kms_client)
    signer = KmsSigner(kms_client, operator_key_id)
    funder = w3.eth.accounts[0]
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder, "to": signer.address, "value": 10**18})
    )

    for nonce in range(3):
        base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
        raw = signer.sign_transaction({
            "type": 2,
            "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(signer.address),
            "to": funder,
            "value": 10**15,
            "gas": 21_000,
            "maxFeePerGas": 2 * base_fee + 10**9,
            "maxPriorityFeePerGas": 10**9,
        })
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
        assert receipt["status"] == 1
        assert receipt["from"] == signer.address

    assert w3.eth.get_transaction_count(signer.address) == 3
    assert calls == Counter({"GetPublicKey": 1, "Sign": 3})  # exactly one Sign per transaction
    assert signer.sign_calls == 3


# -- failures: retry, give up, refuse -------------------------------------------------------


def test_throttling_is_retried_with_full_jitter_backoff(kms_client: Any, operator_key_id: str) -> None:
    delays: list[float] = []
    signer = KmsSigner(kms_client, operator_key_id, base_delay=0.1, sleep=delays.append)
    signer.address
    fail_sign(kms_client, "ThrottlingException", times=3)

    recovery_id, r, s = signer.sign_digest(digest_of(1))

    assert recover_with_coincurve(digest_of(1), recovery_id, r, s) == signer.address
    assert signer.sign_calls == 4 and signer.throttled_retries == 3
    assert len(delays) == 3
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= 0.1 * 2**attempt  # full jitter: anywhere below a doubling ceiling


@pytest.mark.parametrize("code", ["KMSInternalException", "DependencyTimeoutException"])
def test_transient_kms_errors_are_retried(kms_client: Any, operator_key_id: str, code: str) -> None:
    delays: list[float] = []
    signer = KmsSigner(kms_client, operator_key_id, sleep=delays.append)
    fail_sign(kms_client, code, times=1)

    recovery_id, r, s = signer.sign_digest(digest_of(2))

    assert recover_with_coincurve(digest_of(2), recovery_id, r, s) == signer.address
    assert len(delays) == 1 and signer.throttled_retries == 1


def test_connection_errors_are_retried(kms_client: Any, operator_key_id: str) -> None:
    failures = [EndpointConnectionError(endpoint_url="https://kms.ap-northeast-1.amazonaws.com/")]

    def drop_connection(**_: Any) -> None:
        if failures:
            raise failures.pop()

    delays: list[float] = []
    signer = KmsSigner(kms_client, operator_key_id, sleep=delays.append)
    kms_client.meta.events.register("before-call.kms.Sign", drop_connection)

    recovery_id, r, s = signer.sign_digest(digest_of(3))

    assert recover_with_coincurve(digest_of(3), recovery_id, r, s) == signer.address
    assert len(delays) == 1


def test_persistent_throttling_gives_up_as_kms_throttled(kms_client: Any, operator_key_id: str) -> None:
    delays: list[float] = []
    signer = KmsSigner(kms_client, operator_key_id, max_attempts=4, sleep=delays.append)
    signer.address
    fail_sign(kms_client, "ThrottlingException")

    with pytest.raises(SignerError) as raised:
        signer.sign_digest(digest_of(4))

    assert raised.value.code == "kms_throttled"
    assert isinstance(raised.value.__cause__, ClientError)
    assert signer.sign_calls == 4 and signer.throttled_retries == 3
    assert len(delays) == 3  # no pointless sleep after the last attempt


def test_persistent_kms_outage_gives_up_as_kms_unavailable(kms_client: Any, operator_key_id: str) -> None:
    signer = KmsSigner(kms_client, operator_key_id, max_attempts=2, sleep=lambda _: None)
    fail_sign(kms_client, "KMSInternalException")

    with pytest.raises(SignerError) as raised:
        signer.sign_digest(digest_of(5))
    assert raised.value.code == "kms_unavailable"


@pytest.mark.parametrize(
    ("aws_code", "code"),
    [
        ("AccessDeniedException", "kms_access_denied"),
        ("DisabledException", "kms_key_disabled"),
        ("KMSInvalidStateException", "kms_invalid_state"),
        ("NotFoundException", "kms_key_not_found"),
        ("SomethingNewException", "kms_error"),
    ],
)
def test_permanent_errors_fail_at_once(kms_client: Any, operator_key_id: str, aws_code: str, code: str) -> None:
    delays: list[float] = []
    signer = KmsSigner(kms_client, operator_key_id, sleep=delays.append)
    signer.address
    fail_sign(kms_client, aws_code)

    with pytest.raises(SignerError) as raised:
        signer.sign_digest(digest_of(6))

    assert raised.value.code == code
    assert raised.value.details["aws_code"] == aws_code
    assert isinstance(raised.value.__cause__, ClientError)
    assert signer.sign_calls == 1 and delays == []


def test_unknown_key_is_kms_key_not_found(kms_client: Any) -> None:
    signer = KmsSigner(kms_client, "0d6b0d6b-0000-4000-8000-000000000000")
    with pytest.raises(SignerError) as raised:
        signer.address
    assert raised.value.code == "kms_key_not_found"


@pytest.mark.parametrize("key_spec", ["ECC_NIST_P256", "RSA_2048"])
def test_keys_other_than_secp256k1_are_refused(kms_client: Any, key_spec: str) -> None:
    key_id = kms_client.create_key(KeySpec=key_spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    calls = count_calls(kms_client)
    signer = KmsSigner(kms_client, key_id)

    with pytest.raises(SignerError) as raised:
        signer.sign_digest(digest_of(7))

    assert raised.value.code == "kms_wrong_key_spec"
    assert calls["Sign"] == 0


def test_a_public_key_off_secp256k1_is_refused_even_if_kms_says_otherwise(kms_client: Any, operator_key_id: str) -> None:
    p256_spki = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def lie(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://kms/", 200, {}, None), {
            "KeyId": operator_key_id, "PublicKey": p256_spki, "KeySpec": "ECC_SECG_P256K1", "KeyUsage": "SIGN_VERIFY",
        }

    kms_client.meta.events.register("before-call.kms.GetPublicKey", lie)
    with pytest.raises(SignerError) as raised:
        KmsSigner(kms_client, operator_key_id).address
    assert raised.value.code == "kms_bad_public_key"


def test_a_signature_from_another_key_is_refused(kms_signer: KmsSigner, kms_client: Any) -> None:
    other_key = ec.generate_private_key(ec.SECP256K1())
    kms_signer.address
    answer_sign_with(kms_client, other_key.sign(digest_of(8), ec.ECDSA(Prehashed(SHA256()))))

    with pytest.raises(SignerError) as raised:
        kms_signer.sign_digest(digest_of(8))
    assert raised.value.code == "kms_bad_signature"


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30\x00",
        encode_dss_signature(1, 2) + b"\x00",  # trailing garbage
        b"\x30\x07\x02\x02\x00\x01\x02\x01\x01",  # non-minimal INTEGER
        b"\x30\x06\x02\x01\xff\x02\x01\x01",  # negative r
        encode_dss_signature(SECP256K1_N, 1),  # r out of range
    ],
)
def test_malformed_signatures_are_refused(kms_signer: KmsSigner, kms_client: Any, der: bytes) -> None:
    kms_signer.address
    answer_sign_with(kms_client, der)
    with pytest.raises(SignerError) as raised:
        kms_signer.sign_digest(digest_of(9))
    assert raised.value.code == "kms_bad_signature"


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": -1.0}])
def test_bad_configuration_is_refused_up_front(kms_client: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        KmsSigner(kms_client, "alias/manabi-operator", **kwargs)


# -- threads, fallback, import cost -----------------------------------------------------------


def test_eight_threads_sign_concurrently(kms_client: Any, operator_key_id: str) -> None:
    calls = count_calls(kms_client)
    signer = KmsSigner(kms_client, operator_key_id)
    start = threading.Barrier(8)
    results: list[tuple[bytes, tuple[int, int, int]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        try:
            start.wait()  # all threads hit the cold signer together: GetPublicKey must still be one call
            for i in range(25):
                digest = digest_of(worker * 1000 + i)
                signature = signer.sign_digest(digest)
                with lock:
                    results.append((digest, signature))
        except BaseException as exc:  # surfaced below; a thread can't fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(results) == 200
    address = address_from_kms(kms_client, operator_key_id)
    for digest, (recovery_id, r, s) in results:
        assert recover_with_coincurve(digest, recovery_id, r, s) == address
    assert calls["Sign"] == 200 and signer.sign_calls == 200
    assert calls["GetPublicKey"] == 2  # the signer's one, plus address_from_kms above


def test_works_without_coincurve(kms_client: Any, operator_key_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    digests = [digest_of(100 + i) for i in range(6)]
    native_recoveries = []
    original = NativeECCBackend.ecdsa_recover

    def spy(self: Any, msg_hash: bytes, signature: Any) -> Any:
        native_recoveries.append(msg_hash)
        return original(self, msg_hash, signature)

    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "coincurve", None)  # makes `import coincurve` raise ImportError
        patched.setattr(NativeECCBackend, "ecdsa_recover", spy)
        signer = KmsSigner(kms_client, operator_key_id)
        signatures = [signer.sign_digest(digest) for digest in digests]

    assert set(native_recoveries) == set(digests)  # the pure-Python fallback did the recovering
    for digest, (recovery_id, r, s) in zip(digests, signatures):
        assert recover_with_coincurve(digest, recovery_id, r, s) == signer.address


def test_importing_the_signer_pulls_in_neither_web3_nor_eth_account() -> None:
    probe = (
        "import sys, chalicelib.chain.kms_signer; "
        "print(sorted(m for m in ('web3', 'eth_account', 'eth_keys', 'coincurve', 'boto3') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

