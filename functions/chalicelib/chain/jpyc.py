"""JPYC, the yen stablecoin, through the functions real JPYC has.

Real JPYC is a proxy over a fork of Circle's FiatToken: it has ``permit`` and
``nonces`` (EIP-2612) but no ``DOMAIN_SEPARATOR()``, ``version()`` or
``eip712Domain()``. So the permit domain is built from ``name()``, the
configured version (``"1"``), the chain id and the token address, and checked
against ``_domainSeparatorV4()`` or ``DOMAIN_SEPARATOR()`` when the token has
one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .eip712 import DOMAIN_TYPE

if TYPE_CHECKING:
    from web3 import Web3
    from web3.contract import Contract

PERMIT_TYPES = {
    "EIP712Domain": DOMAIN_TYPE,
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}
# Selectors of the domain-separator getters a token may have (checked in this order).
_SEPARATOR_GETTERS = ("_domainSeparatorV4()", "DOMAIN_SEPARATOR()")


class Jpyc:
    def __init__(self, w3: Web3, token: Contract, *, permit_version: str = "1") -> None:
        self._w3 = w3
        self._token = token
        self._version = permit_version
        self._domain: dict[str, Any] | None = None

    @property
    def address(self) -> str:
        return str(self._token.address)

    def balance_of(self, owner: str) -> int:
        return int(self._token.functions.balanceOf(owner).call())

    def permit_domain(self) -> dict[str, Any]:
        """The EIP-712 domain of the token's permits, verified on chain where possible."""
        if self._domain is None:
            domain = {
                "name": self._token.functions.name().call(),
                "version": self._version,
                "chainId": int(self._w3.eth.chain_id),
                "verifyingContract": self._token.address,
            }
            onchain = self._onchain_separator()
            if onchain is not None and onchain != _separator(domain):
                raise ConfigurationError(
                    "the JPYC permit domain does not match the token's; check MANABI_JPYC_PERMIT_VERSION"
                )
            self._domain = domain
        return self._domain

    def _onchain_separator(self) -> bytes | None:
        from eth_utils import function_signature_to_4byte_selector

        for getter in _SEPARATOR_GETTERS:
            try:
                result = self._w3.eth.call(
                    {"to": self._token.address, "data": "0x" + function_signature_to_4byte_selector(getter).hex()}
                )
            except Exception:  # noqa: BLE001 - the token lacks this getter
                continue
            if len(result) == 32:
                return bytes(result)
        return None

    def permit_typed_data(self, *, owner: str, spender: str, value: int, deadline: int) -> dict[str, Any]:
        """The full EIP-712 message a wallet signs (``eth_signTypedData_v4``)."""
        return {
            "types": PERMIT_TYPES,
            "primaryType": "Permit",
            "domain": self.permit_domain(),
            "message": {
                "owner": owner,
                "spender": spender,
                "value": value,
                "nonce": int(self._token.functions.nonces(owner).call()),
                "deadline": deadline,
            },
        }


def _separator(domain: dict[str, Any]) -> bytes:
    from eth_abi import encode
    from eth_utils import keccak

    type_hash = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    return keccak(encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [type_hash, keccak(text=domain["name"]), keccak(text=domain["version"]), domain["chainId"],
         domain["verifyingContract"]],
    ))
