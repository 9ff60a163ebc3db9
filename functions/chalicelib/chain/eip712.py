"""EIP-712 typed data: the domain type, signature recovery and splitting."""

from __future__ import annotations

from typing import Any

DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def recover_typed_data(typed_data: dict[str, Any], signature: str) -> str:
    """The address that signed ``typed_data`` (raises ValueError on a malformed signature)."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    return str(Account.recover_message(encode_typed_data(full_message=typed_data), signature=signature))


def split_signature(signature: str) -> tuple[int, bytes, bytes]:
    """(v, r, s) of a 65-byte hex signature; v normalised to 27/28."""
    raw = bytes.fromhex(signature[2:] if signature.startswith("0x") else signature)
    if len(raw) != 65:
        raise ValueError("a signature is 65 bytes")
    v = raw[64]
    return (v + 27 if v < 27 else v), raw[:32], raw[32:64]
