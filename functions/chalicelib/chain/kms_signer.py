"""The operator's Ethereum key, held in AWS KMS (``ECC_SECG_P256K1``, ``SIGN_VERIFY``).

The private key never leaves KMS. This module turns KMS's answers into what Ethereum
wants: an address from ``GetPublicKey``, and ``(recovery_id, r, s)`` signatures from
``Sign`` over a 32-byte keccak digest (``MessageType=DIGEST``), low-s normalised (EIP-2)
with the recovery id found by trying both values against the known public key.

Import cost matters (Lambda cold start): this module imports only the standard library
and ``chalicelib.errors``. ``eth_hash``/``coincurve`` are imported on first signature,
``eth_account`` only by the methods that serialise transactions or messages, and web3
never.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.errors import SignerError

if TYPE_CHECKING:
    from eth_account.messages import SignableMessage

__all__ = ["KmsSigner"]

# secp256k1 field prime and group order.
_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _N // 2

_KEY_SPEC = "ECC_SECG_P256K1"
_SIGNING_ALGORITHM = "ECDSA_SHA_256"
# DER AlgorithmIdentifier content: OID id-ecPublicKey (1.2.840.10045.2.1), OID secp256k1 (1.3.132.0.10).
_SECP256K1_ALGORITHM_ID = bytes.fromhex("06072a8648ce3d0201" "06052b8104000a")

# Transient failures: worth retrying with backoff. ThrottlingException is the shared
# per-account-and-region ECC sign quota (DOMAIN.md); the other two are KMS-side hiccups.
_RETRYABLE_CODES = frozenset({"ThrottlingException", "KMSInternalException", "DependencyTimeoutException"})
# Everything else is permanent for this request; map the common ones to stable reason codes.
_PERMANENT_CODES = {
    "AccessDeniedException": "kms_access_denied",
    "NotFoundException": "kms_key_not_found",
    "DisabledException": "kms_key_disabled",
    "KMSInvalidStateException": "kms_invalid_state",
    "InvalidKeyUsageException": "kms_invalid_key_usage",
    "KeyUnavailableException": "kms_key_unavailable",
    "ValidationException": "kms_validation",
}
_MAX_DELAY = 2.0  # seconds; cap on one backoff sleep, so a Lambda doesn't sleep out its timeout


class KmsSigner:
    """Ethereum signer whose private key is an AWS KMS ``ECC_SECG_P256K1`` key.

    Args:
        kms_client: a plain boto3 KMS client. The signer retries throttling itself (full
            jitter), so build the client with botocore's retries turned down, e.g.
            ``Config(retries={"mode": "standard", "total_max_attempts": 1})``; otherwise
            botocore's retries multiply with ours.
        key_id: key id, key ARN or ``alias/...``.
        max_attempts: KMS attempts per operation before giving up (>= 1).
        base_delay: first backoff ceiling in seconds; ceilings double per retry, capped at 2 s.
        sleep: injected for tests.

    Every public method may raise :class:`~chalicelib.errors.SignerError`, whose ``code``
    says why: ``kms_throttled`` / ``kms_unavailable`` (gave up after ``max_attempts``),
    ``kms_access_denied``, ``kms_key_not_found``, ``kms_key_disabled``,
    ``kms_invalid_state``, ``kms_wrong_key_spec``, ``kms_bad_public_key``,
    ``kms_bad_signature`` (a signature that does not recover to the key: a broken
    emulator, e.g. moto without ``manabi.moto_patch``), or ``kms_error``. Bad arguments
    (wrong digest length, a non-EIP-1559 transaction) raise ``ValueError``.

    Thread safe: one instance may sign from many threads. ``sign_calls`` counts every
    KMS ``Sign`` request sent, retries included; ``throttled_retries`` counts the retries
    among them. Exactly one ``Sign`` per signature when KMS is healthy, and one
    ``GetPublicKey`` for the signer's lifetime (on first use, then cached).
    """

    def __init__(
        self,
        kms_client: Any,
        key_id: str,
        *,
        max_attempts: int = 6,
        base_delay: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not key_id:
            raise ValueError("key_id is required")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if base_delay < 0:
            raise ValueError(f"base_delay must be >= 0, got {base_delay}")
        self._kms = kms_client
        self._key_id = key_id
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._sleep = sleep
        self._public_key: bytes | None = None  # 64 bytes X||Y, set once
        self._address: str | None = None
        self._key_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._recover: Callable[[bytes, int, int, int], bytes | None] | None = None
        self.sign_calls = 0
        self.throttled_retries = 0

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def address(self) -> str:
        """EIP-55 checksum address of the KMS key. The first access calls ``GetPublicKey``."""
        self._load_public_key()
        assert self._address is not None
        return self._address

    def sign_digest(self, digest: bytes) -> tuple[int, int, int]:
        """Sign a 32-byte digest with one KMS ``Sign`` call.

        Returns ``(recovery_id, r, s)`` with ``recovery_id`` 0 or 1 and ``s <= n/2``
        (EIP-2), verified to recover to :attr:`address` before it is returned.
        """
        if not isinstance(digest, (bytes, bytearray)) or len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        digest = bytes(digest)
        public_key = self._load_public_key()
        der = self._call("sign", KeyId=self._key_id, Message=digest, MessageType="DIGEST",
                         SigningAlgorithm=_SIGNING_ALGORITHM)["Signature"]
        r, s = _decode_der_signature(der)
        if s > _HALF_N:
            # (r, n - s) is the same signature mirrored; Ethereum only accepts the low half.
            s = _N - s
        return self._recovery_id(digest, r, s, public_key), r, s

    def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        """Sign an EIP-1559 (type 2) transaction dict; returns raw bytes for ``eth_sendRawTransaction``.

        ``tx`` needs ``chainId``, ``nonce``, ``gas``, ``maxFeePerGas``,
        ``maxPriorityFeePerGas`` (``to``, ``value``, ``data``, ``accessList`` optional), as
        web3's ``build_transaction`` produces. A ``from`` field must equal :attr:`address`
        and is dropped. Legacy and other typed transactions raise ``ValueError``.
        """
        from eth_account.typed_transactions import TypedTransaction

        fields = dict(tx)
        sender = fields.pop("from", None)
        if sender is not None and str(sender).lower() != self.address.lower():
            raise ValueError(f"transaction 'from' {sender} is not the KMS signer {self.address}")
        if "gasPrice" in fields or int(str(fields.setdefault("type", 2)), 0) != 2:
            raise ValueError("only EIP-1559 (type 2) transactions are supported")
        unsigned = TypedTransaction.from_dict(fields)
        y_parity, r, s = self.sign_digest(unsigned.hash())
        signed = TypedTransaction.from_dict({**unsigned.as_dict(), "v": y_parity, "r": r, "s": s})
        return signed.encode()

    def sign_message(self, text: str) -> bytes:
        """EIP-191 ``personal_sign`` of ``text``: 65 bytes ``r || s || v`` with ``v`` 27/28."""
        from eth_account.messages import encode_defunct

        return self._sign_signable(encode_defunct(text=text))

    def sign_typed_data(self, full_message: dict[str, Any]) -> bytes:
        """EIP-712 signature over ``full_message`` (``types``, ``primaryType``, ``domain``,
        ``message``): 65 bytes ``r || s || v`` with ``v`` 27/28, as ``eth_signTypedData_v4``."""
        from eth_account.messages import encode_typed_data

        return self._sign_signable(encode_typed_data(full_message=full_message))

    # -- internals ---------------------------------------------------------------

    def _sign_signable(self, signable: SignableMessage) -> bytes:
        from eth_hash.auto import keccak

        # EIP-191: keccak256(0x19 || version || header || body).
        digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
        recovery_id, r, s = self.sign_digest(digest)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + recovery_id])

    def _load_public_key(self) -> bytes:
        public_key = self._public_key
        if public_key is None:
            with self._key_lock:  # one GetPublicKey even when many threads start at once
                if self._public_key is None:
                    self._public_key, self._address = self._fetch_public_key()
                public_key = self._public_key
        return public_key

    def _fetch_public_key(self) -> tuple[bytes, str]:
        from eth_hash.auto import keccak

        response = self._call("get_public_key", KeyId=self._key_id)
        # Real KMS answers KeySpec (and the deprecated CustomerMasterKeySpec); moto only the latter.
        key_spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
        if key_spec != _KEY_SPEC or response.get("KeyUsage", "SIGN_VERIFY") != "SIGN_VERIFY":
            raise SignerError(
                f"KMS key is {key_spec}/{response.get('KeyUsage')}, need {_KEY_SPEC}/SIGN_VERIFY",
                code="kms_wrong_key_spec",
                key_spec=key_spec,
            )
        public_key = _decode_secp256k1_spki(response["PublicKey"])
        address = _checksum(keccak(public_key)[-20:].hex(), keccak)
        return public_key, address

    def _recovery_id(self, digest: bytes, r: int, s: int, public_key: bytes) -> int:
        recover = self._recover
        if recover is None:
            recover = self._recover = _pick_recoverer()
        for recovery_id in (0, 1):
            if recover(digest, r, s, recovery_id) == public_key:
                return recovery_id
        raise SignerError(
            "KMS signature does not recover to the key's address (an emulator that ignores "
            "MessageType=DIGEST does this)",
            code="kms_bad_signature",
        )

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call KMS ``operation``; retry transient failures with exponential backoff and full jitter."""
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        method = getattr(self._kms, operation)
        give_up_code = "kms_throttled"
        last_error: Exception | None = None
        for attempt in range(1, self._max_attempts + 1):
            if operation == "sign":
                with self._count_lock:
                    self.sign_calls += 1
                    if attempt > 1:
                        self.throttled_retries += 1
            try:
                return method(**params)
            except ClientError as exc:
                aws_code = exc.response.get("Error", {}).get("Code", "")
                if aws_code not in _RETRYABLE_CODES:
                    raise SignerError(
                        f"KMS {operation} refused: {aws_code}",
                        code=_PERMANENT_CODES.get(aws_code, "kms_error"),
                        aws_code=aws_code,
                    ) from exc
                give_up_code = "kms_throttled" if aws_code == "ThrottlingException" else "kms_unavailable"
                last_error = exc
            except (BotoConnectionError, HTTPClientError) as exc:
                give_up_code = "kms_unavailable"
                last_error = exc
            if attempt < self._max_attempts:
                # Full jitter (AWS Architecture Blog): spreads retries from concurrent
                # signers over the whole window instead of synchronising them.
                ceiling = min(_MAX_DELAY, self._base_delay * 2 ** (attempt - 1))
                self._sleep(random.uniform(0, ceiling))
        raise SignerError(
            f"KMS {operation} still failing after {self._max_attempts} attempts",
            code=give_up_code,
            attempts=self._max_attempts,
        ) from last_error


# -- recovery backends ---------------------------------------------------------------


def _pick_recoverer() -> Callable[[bytes, int, int, int], bytes | None]:
    """coincurve (libsecp256k1, ~0.05 ms) when installed, else pure-Python eth_keys (~5 ms)."""
    try:
        import coincurve  # noqa: F401
    except ImportError:
        return _recover_with_eth_keys
    return _recover_with_coincurve


def _recover_with_coincurve(digest: bytes, r: int, s: int, recovery_id: int) -> bytes | None:
    from coincurve import PublicKey

    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([recovery_id])
    try:
        return PublicKey.from_signature_and_message(signature, digest, hasher=None).format(compressed=False)[1:]
    except ValueError:  # no point for this recovery id
        return None


def _recover_with_eth_keys(digest: bytes, r: int, s: int, recovery_id: int) -> bytes | None:
    from eth_keys.backends import NativeECCBackend
    from eth_keys.datatypes import Signature
    from eth_keys.exceptions import BadSignature

    try:
        # The backend must be passed to the Signature itself; KeyAPI(backend).Signature ignores it.
        signature = Signature(vrs=(recovery_id, r, s), backend=NativeECCBackend())
        return signature.recover_public_key_from_msg_hash(digest).to_bytes()
    except BadSignature:
        return None


# -- DER and address helpers -----------------------------------------------------------


def _der_element(data: bytes, offset: int, tag: int) -> tuple[bytes, int]:
    """Read one DER element with ``tag`` at ``offset``; return (content, offset after it)."""
    if offset + 2 > len(data) or data[offset] != tag:
        raise ValueError(f"expected DER tag {tag:#04x} at {offset}")
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 2 or offset + size > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[offset:offset + size], "big")
        if length < 0x80 or data[offset] == 0:  # DER demands the shortest length form
            raise ValueError("non-minimal DER length")
        offset += size
    if offset + length > len(data):
        raise ValueError("truncated DER element")
    return data[offset:offset + length], offset + length


def _der_positive_integer(content: bytes) -> int:
    if not content or content[0] & 0x80:
        raise ValueError("DER INTEGER empty or negative")
    if len(content) > 1 and content[0] == 0 and not content[1] & 0x80:
        raise ValueError("non-minimal DER INTEGER")
    return int.from_bytes(content, "big")


def _decode_der_signature(der: bytes) -> tuple[int, int]:
    """Strictly decode ``SEQUENCE { INTEGER r, INTEGER s }`` as KMS returns it."""
    try:
        body, end = _der_element(der, 0, 0x30)
        if end != len(der):
            raise ValueError("trailing bytes after signature")
        r_bytes, offset = _der_element(body, 0, 0x02)
        s_bytes, offset = _der_element(body, offset, 0x02)
        if offset != len(body):
            raise ValueError("trailing bytes inside signature")
        r, s = _der_positive_integer(r_bytes), _der_positive_integer(s_bytes)
    except ValueError as exc:
        raise SignerError(f"KMS returned a malformed signature: {exc}", code="kms_bad_signature") from exc
    if not (0 < r < _N and 0 < s < _N):
        raise SignerError("KMS signature out of range", code="kms_bad_signature")
    return r, s


def _decode_secp256k1_spki(der: bytes) -> bytes:
    """Return the 64-byte ``X || Y`` from a secp256k1 SubjectPublicKeyInfo, checking it is on the curve."""
    try:
        spki, end = _der_element(der, 0, 0x30)
        if end != len(der):
            raise ValueError("trailing bytes after SubjectPublicKeyInfo")
        algorithm, offset = _der_element(spki, 0, 0x30)
        if algorithm != _SECP256K1_ALGORITHM_ID:
            raise ValueError("not an id-ecPublicKey on secp256k1")
        bits, offset = _der_element(spki, offset, 0x03)
        if offset != len(spki):
            raise ValueError("trailing bytes inside SubjectPublicKeyInfo")
        if len(bits) != 66 or bits[0] != 0 or bits[1] != 0x04:  # no unused bits, uncompressed point
            raise ValueError("expected an uncompressed 65-byte point")
    except ValueError as exc:
        raise SignerError(f"KMS returned an unusable public key: {exc}", code="kms_bad_public_key") from exc
    x, y = int.from_bytes(bits[2:34], "big"), int.from_bytes(bits[34:], "big")
    if not (x < _P and y < _P and (y * y - x * x * x - 7) % _P == 0):
        raise SignerError("KMS public key is not on secp256k1", code="kms_bad_public_key")
    return bits[2:]


def _checksum(address_hex: str, keccak: Callable[[bytes], bytes]) -> str:
    """EIP-55 mixed-case checksum (done here to avoid importing eth_utils just for this)."""
    hashed = keccak(address_hex.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(address_hex, hashed))
