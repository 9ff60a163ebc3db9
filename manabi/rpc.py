"""A JSON-RPC endpoint for the embedded py-evm chain (``manabi dev`` only, at ``/rpc``).

It lets a browser wallet add the local chain (``wallet_addEthereumChain``
needs an RPC URL) and lets a second local stack run against this chain with
``--rpc-url``. Requests go through the same ``EthereumTesterProvider``, and so
the same chain lock, as the app; results are encoded as a node would send them
(quantities as hex).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from web3 import Web3

# Numbers that are data, not quantities: encoded as fixed-size hex.
_FIXED_SIZE = {"logsBloom": 256}


def encode(value: Any, key: str | None = None) -> Any:
    """A provider result in JSON-RPC form: ints as hex quantities, bytes as hex data."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if key in _FIXED_SIZE:
            return "0x" + value.to_bytes(_FIXED_SIZE[key], "big").hex()
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {k: encode(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return str(value)


class JsonRpcBridge:
    def __init__(self, w3: Web3) -> None:
        self._call = w3.provider.request_func(w3, w3.middleware_onion)

    def handle(self, body: bytes) -> bytes:
        try:
            request = json.loads(body)
        except ValueError:
            return json.dumps({"jsonrpc": "2.0", "id": None,
                               "error": {"code": -32700, "message": "parse error"}}).encode()
        if isinstance(request, list):
            return json.dumps([self._one(r) for r in request]).encode()
        return json.dumps(self._one(request)).encode()

    def _one(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
        try:
            response = self._call(request["method"], request.get("params") or [])
        except Exception as exc:  # noqa: BLE001 - every failure is an RPC error to the client
            reply["error"] = {"code": -32000, "message": str(exc)[:500]}
            return reply
        if "error" in response:
            reply["error"] = response["error"]
        else:
            reply["result"] = encode(response.get("result"))
        return reply
