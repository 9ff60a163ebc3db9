"""Make moto's KMS ``Sign``/``Verify`` honour ``MessageType=DIGEST`` (tests and local stack only).

The bug
    Real KMS treats ``Message`` as an already-computed hash when ``MessageType=DIGEST``
    and signs it as is. moto 5.2.5 parses ``MessageType`` in ``KmsResponse.sign`` and
    ``KmsResponse.verify`` and then drops it: the backend always signs with
    ``ec.ECDSA(SHA256())``, so a DIGEST request has its digest hashed *again*. The
    signature verifies against ``sha256(digest)``, never against the digest, and so an
    Ethereum signature made through moto never recovers to the key's address. Our
    ``KmsSigner`` (which sends keccak digests, like every Ethereum KMS signer) cannot
    be tested against unpatched moto at all.

Upstream status
    Reported as the "not yet implemented" note in moto's own ``KmsBackend.verify``
    docstring since Sign/Verify landed (getmoto/moto#5243, moto 3.1.15). The fix,
    getmoto/moto#10202 "KMS: implement MessageType=DIGEST for Sign and Verify", is
    still open at the time of writing. It does what this patch does (``Prehashed`` for
    ECDSA and RSA) and also rejects digests of the wrong length.

Why an in-process patch
    The signer must be exercised end to end (boto3 → KMS API → signature → recovery)
    in unit tests (``mock_aws``) and in the local stack (``ThreadedMotoServer`` in the
    same process). Both dispatch to the same ``KmsResponse`` class and the same key
    objects, so patching those two classes covers both. Production never imports this
    module: real KMS has no such bug.

What is patched (the smallest seam we found)
    * ``KmsResponse.sign`` / ``KmsResponse.verify`` are wrapped: when the request says
      ``MessageType=DIGEST`` they check the digest length (as real KMS does) and set a
      context variable for the duration of the call.
    * The private hash-choosing helpers of moto's key classes
      (``ECDSAPrivateKey.__hash_algorithm`` and ``RSAPrivateKey.__padding_and_hash_algorithm``)
      are wrapped to return ``Prehashed(<hash>)`` while that context variable is set.
    A ``ContextVar`` rather than a global flag because ``ThreadedMotoServer`` serves
    requests on several threads at once; each request is handled start to finish on one
    thread, so the flag never leaks into another request.

When to remove it
    ``tests/manabi/test_moto_patch.py`` calls :func:`moto_honours_digest`, which asks
    unpatched moto to sign a digest. The day that returns ``True`` (a moto release with
    #10202 or equivalent), the test fails with "moto now honours DIGEST: remove
    manabi/moto_patch.py": delete this module, its callers and that test, and raise the
    moto floor in ``pyproject.toml``. If moto's internals move before then,
    :func:`apply_kms_digest_patch` raises ``RuntimeError`` instead of silently doing
    nothing.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["apply_kms_digest_patch", "is_patched", "moto_honours_digest"]

# Set (to True) while moto handles a Sign/Verify request with MessageType=DIGEST.
_digest_request: ContextVar[bool] = ContextVar("manabi_kms_digest_request", default=False)
# Set while moto_honours_digest() probes moto's own behaviour with the patch switched off.
_bypass: ContextVar[bool] = ContextVar("manabi_kms_digest_bypass", default=False)

_PATCH_MARKER = "__manabi_digest_patch__"
_apply_lock = threading.Lock()

# KMS: "the length of the Message value must match the length of hashed messages for the
# specified signing algorithm". The hash is the algorithm name's suffix.
_DIGEST_SIZES = {"SHA_256": 32, "SHA_384": 48, "SHA_512": 64}

_SELF_TEST_REGION = "eu-north-1"  # a region nothing else in the project uses


def apply_kms_digest_patch() -> None:
    """Patch moto (in this process) so KMS Sign/Verify honour ``MessageType=DIGEST``.

    Idempotent and thread safe; call it before the first KMS request, from test fixtures
    or the local stack. Covers ``mock_aws`` and ``ThreadedMotoServer`` alike.

    Raises:
        RuntimeError: moto's internals no longer look like 5.2.x, so the patch would not
            take effect. Check :func:`moto_honours_digest` first: moto may have fixed it.
    """
    from moto.kms import utils as kms_utils
    from moto.kms.responses import KmsResponse

    targets: list[tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
        (KmsResponse, "sign", _wrap_response),
        (KmsResponse, "verify", _wrap_response),
        (kms_utils.ECDSAPrivateKey, "_ECDSAPrivateKey__hash_algorithm", _wrap_hash_algorithm),
        (kms_utils.RSAPrivateKey, "_RSAPrivateKey__padding_and_hash_algorithm", _wrap_rsa_padding),
    ]
    with _apply_lock:
        for owner, name, _ in targets:
            if not callable(getattr(owner, name, None)):
                raise RuntimeError(
                    f"moto changed: {owner.__qualname__}.{name} is gone, so the DIGEST patch "
                    "cannot apply. If moto_honours_digest() is True, remove manabi/moto_patch.py."
                )
        for owner, name, wrap in targets:
            original = getattr(owner, name)
            if not getattr(original, _PATCH_MARKER, False):
                setattr(owner, name, wrap(original))


def is_patched() -> bool:
    """Whether :func:`apply_kms_digest_patch` has run in this process."""
    from moto.kms.responses import KmsResponse

    return bool(getattr(KmsResponse.sign, _PATCH_MARKER, False))


def moto_honours_digest() -> bool:
    """Ask moto, with this patch switched off, to sign a digest; True if it signs it as is.

    Runs its own ``mock_aws`` with throwaway credentials in a region nothing else uses,
    so it is safe to call whether or not the patch is applied or another ``mock_aws`` is
    active (a nested one leaves one pending-deletion key in that region). Do not call it
    while other threads are starting or stopping ``mock_aws``.
    """
    import boto3
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    from moto import mock_aws

    digest = hashlib.sha256(b"manabi moto DIGEST self-test").digest()
    with _patch_switched_off(), mock_aws():
        kms = boto3.client(
            "kms",
            region_name=_SELF_TEST_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        key_id = kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        try:
            signature = kms.sign(
                KeyId=key_id,
                Message=digest,
                MessageType="DIGEST",
                SigningAlgorithm="ECDSA_SHA_256",
            )["Signature"]
            public_key = load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
        finally:
            kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    try:
        public_key.verify(signature, digest, ec.ECDSA(Prehashed(SHA256())))
    except InvalidSignature:
        return False
    return True


@contextmanager
def _patch_switched_off() -> Iterator[None]:
    token = _bypass.set(True)
    try:
        yield
    finally:
        _bypass.reset(token)


def _mark(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    setattr(wrapper, _PATCH_MARKER, True)
    return wrapper


def _wrap_response(original: Callable[[Any], str]) -> Callable[[Any], str]:
    """Wrap ``KmsResponse.sign``/``verify``: flag DIGEST requests for the key classes."""

    @functools.wraps(original)
    def handle(self: Any) -> str:
        if _bypass.get() or self._get_param("MessageType") != "DIGEST":
            return original(self)
        _check_digest_length(self._get_param("Message"), self._get_param("SigningAlgorithm"))
        token = _digest_request.set(True)
        try:
            return original(self)
        finally:
            _digest_request.reset(token)

    return _mark(handle)


def _check_digest_length(message: Any, signing_algorithm: Any) -> None:
    from moto.kms.exceptions import ValidationException

    algorithm = str(signing_algorithm)
    expected = next((size for hash_name, size in _DIGEST_SIZES.items() if algorithm.endswith(hash_name)), None)
    if expected is not None and isinstance(message, bytes) and len(message) != expected:
        # Same wording as real KMS (and as getmoto/moto#10202).
        raise ValidationException(f"Digest is invalid length for algorithm {signing_algorithm}.")


def _prehashed(algorithm: Any) -> Any:
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    if isinstance(algorithm, Prehashed):  # moto already honours DIGEST here: leave it alone
        return algorithm
    return Prehashed(algorithm)


def _wrap_hash_algorithm(original: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """Wrap ``ECDSAPrivateKey.__hash_algorithm``, used by both its ``sign`` and ``verify``."""

    @functools.wraps(original)
    def hash_algorithm(self: Any, signing_algorithm: str) -> Any:
        algorithm = original(self, signing_algorithm)
        return _prehashed(algorithm) if _digest_request.get() else algorithm

    return _mark(hash_algorithm)


def _wrap_rsa_padding(original: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """Wrap ``RSAPrivateKey.__padding_and_hash_algorithm`` the same way (PSS and PKCS#1 v1.5)."""

    @functools.wraps(original)
    def padding_and_hash_algorithm(self: Any, signing_algorithm: str) -> Any:
        pad, algorithm = original(self, signing_algorithm)
        return (pad, _prehashed(algorithm)) if _digest_request.get() else (pad, algorithm)

    return _mark(padding_and_hash_algorithm)
