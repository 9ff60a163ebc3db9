"""Pseudonymous on-chain identities for selected talents.

A talent who gives no wallet address gets one derived from a secret that
lives in KMS (an HMAC key that never leaves it) and the application id, which
is random. Nothing about the person goes into the derivation, so the address
reveals nothing, and nobody holds a private key for it: it can only receive a
lending, which is all the chain needs from a talent.
"""

from __future__ import annotations

from typing import Any

from .errors import SignerError

DERIVATION_CONTEXT = b"manabi-relay talent address v1:"


class TalentIdentities:
    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def address_for(self, application_id: str) -> str:
        """The talent's pseudonymous address (checksummed), stable for the application."""
        from botocore.exceptions import BotoCoreError, ClientError
        from eth_utils import keccak, to_checksum_address

        try:
            mac = self._kms.generate_mac(
                KeyId=self._key_id, MacAlgorithm="HMAC_SHA_256",
                Message=DERIVATION_CONTEXT + application_id.encode("ascii"),
            )["Mac"]
        except (ClientError, BotoCoreError) as exc:
            raise SignerError("could not derive the talent address", code="talent_id_unavailable") from exc
        return to_checksum_address(keccak(mac)[-20:])
