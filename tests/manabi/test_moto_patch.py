"""The moto KMS DIGEST patch: still needed, correct, idempotent, and good for ThreadedMotoServer.

Signatures are checked with ``cryptography`` against the KMS public key, never by moto.
"""

from __future__ import annotations

import hashlib
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, HashAlgorithm
from cryptography.hazmat.primitives.serialization import load_der_public_key
from moto.kms.responses import KmsResponse
from moto.server import ThreadedMotoServer

from chalicelib.chain.kms_signer import KmsSigner
from manabi.moto_patch import apply_kms_digest_patch, is_patched, moto_honours_digest

MESSAGE = "まなびリレー DIGEST check".encode()


def test_moto_still_needs_the_patch() -> None:
    """Fails the day moto signs digests as given; then the patch is dead weight."""
    assert not moto_honours_digest(), "moto now honours DIGEST: remove manabi/moto_patch.py"


def verify(public_key: Any, signature: bytes, digest: bytes, algorithm: HashAlgorithm, signing_algorithm: str) -> None:
    """Raise InvalidSignature unless ``signature`` is over ``digest`` itself (not a hash of it)."""
    if signing_algorithm.startswith("ECDSA"):
        public_key.verify(signature, digest, ec.ECDSA(Prehashed(algorithm)))
    elif signing_algorithm.startswith("RSASSA_PSS"):
        pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
        public_key.verify(signature, digest, pss, Prehashed(algorithm))
    else:
        public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(algorithm))


@pytest.mark.parametrize(
    ("key_spec", "signing_algorithm", "algorithm"),
    [
        ("ECC_SECG_P256K1", "ECDSA_SHA_256", SHA256()),
        ("ECC_NIST_P256", "ECDSA_SHA_256", SHA256()),
        ("ECC_NIST_P384", "ECDSA_SHA_384", SHA384()),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", SHA256()),
        ("RSA_2048", "RSASSA_PSS_SHA_256", SHA256()),
    ],
)
def test_patched_digest_signatures_verify_against_the_digest(
    kms_client: Any, key_spec: str, signing_algorithm: str, algorithm: HashAlgorithm
) -> None:
    key_id = kms_client.create_key(KeySpec=key_spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public_key = load_der_public_key(kms_client.get_public_key(KeyId=key_id)["PublicKey"])
    hasher = hashlib.new(algorithm.name)
    hasher.update(MESSAGE)
    digest = hasher.digest()

    signature = kms_client.sign(
        KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=signing_algorithm
    )["Signature"]

    verify(public_key, signature, digest, algorithm, signing_algorithm)
    # KMS semantics: the message type at Verify need not match the one used at Sign.
    for message_type, message in (("DIGEST", digest), ("RAW", MESSAGE)):
        assert kms_client.verify(
            KeyId=key_id, Message=message, MessageType=message_type,
            Signature=signature, SigningAlgorithm=signing_algorithm,
        )["SignatureValid"], message_type


def test_raw_messages_are_still_hashed_once(kms_client: Any, operator_key_id: str) -> None:
    public_key = load_der_public_key(kms_client.get_public_key(KeyId=operator_key_id)["PublicKey"])
    signature = kms_client.sign(
        KeyId=operator_key_id, Message=MESSAGE, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]

    public_key.verify(signature, MESSAGE, ec.ECDSA(SHA256()))


def test_a_digest_of_the_wrong_length_is_a_validation_error(kms_client: Any, operator_key_id: str) -> None:
    with pytest.raises(kms_client.exceptions.ClientError) as raised:
        kms_client.sign(
            KeyId=operator_key_id, Message=b"\x01" * 31, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_unpatched_moto_signs_sha256_of_the_digest(kms_client: Any, operator_key_id: str) -> None:
    """Documents the bug precisely, via the patch's own off switch (the only private use here)."""
    from manabi.moto_patch import _patch_switched_off

    public_key = load_der_public_key(kms_client.get_public_key(KeyId=operator_key_id)["PublicKey"])
    digest = hashlib.sha256(MESSAGE).digest()
    with _patch_switched_off():
        signature = kms_client.sign(
            KeyId=operator_key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
        )["Signature"]

    with pytest.raises(InvalidSignature):
        public_key.verify(signature, digest, ec.ECDSA(Prehashed(SHA256())))
    public_key.verify(signature, digest, ec.ECDSA(SHA256()))  # i.e. it signed sha256(digest)


def test_applying_twice_wraps_once() -> None:
    apply_kms_digest_patch()
    wrapped = KmsResponse.sign
    apply_kms_digest_patch()

    assert is_patched()
    assert KmsResponse.sign is wrapped
    assert not getattr(KmsResponse.sign.__wrapped__, "__manabi_digest_patch__", False)


def test_apply_fails_loudly_if_moto_internals_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.kms import utils

    monkeypatch.delattr(utils.ECDSAPrivateKey, "_ECDSAPrivateKey__hash_algorithm")
    with pytest.raises(RuntimeError, match="moto changed"):
        apply_kms_digest_patch()


@pytest.fixture
def moto_server(aws_credentials: None) -> Iterator[str]:
    """A ThreadedMotoServer on a free port in this process; yields its endpoint URL."""
    apply_kms_digest_patch()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint
    finally:
        # The server shares moto's in-process backends with mock_aws: leave them empty.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
        server.stop()


def test_the_patch_works_through_threaded_moto_server(moto_server: str) -> None:
    kms = boto3.client("kms", region_name="ap-northeast-1", endpoint_url=moto_server)
    key_id = kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public_key = load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    signer = KmsSigner(kms, key_id)
    failures: list[BaseException] = []

    def sign_some(worker: int) -> None:
        try:
            for i in range(10):
                digest = hashlib.sha256(b"%d-%d" % (worker, i)).digest()
                signature = kms.sign(
                    KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
                )["Signature"]
                public_key.verify(signature, digest, ec.ECDSA(Prehashed(SHA256())))
                signer.sign_digest(digest)  # recovers to the address, or raises kms_bad_signature
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    # Concurrent requests: the server handles each on its own thread.
    threads = [threading.Thread(target=sign_some, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert signer.sign_calls == 40
