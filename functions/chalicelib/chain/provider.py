"""Builds the ``Web3`` the app talks to.

In production that is an HTTP JSON-RPC endpoint (Polygon). In the local stack
it is the embedded py-evm chain, which lives in the same process and is handed
over with :func:`use_embedded_chain`. py-evm is not thread safe, so every
request to it goes through one process-wide lock.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from web3 import Web3

_embedded: dict[str, Any] = {}
_http: dict[str, Any] = {}
_lock = threading.Lock()
CHAIN_LOCK = threading.RLock()


def use_embedded_chain(w3: Web3 | None) -> None:
    """Register (or, with ``None``, forget) the in-process chain for ``MANABI_RPC_URL=embedded``."""
    with _lock:
        if w3 is None:
            _embedded.pop("w3", None)
        else:
            _embedded["w3"] = w3


def embedded_provider() -> Any:
    """An ``EthereumTesterProvider`` whose requests are serialised by :data:`CHAIN_LOCK`."""
    from web3 import EthereumTesterProvider

    class LockedEthereumTesterProvider(EthereumTesterProvider):
        def make_request(self, method: Any, params: Any) -> Any:
            with CHAIN_LOCK:
                return super().make_request(method, params)

    return LockedEthereumTesterProvider()


def web3_for(settings: Settings) -> Web3:
    """The ``Web3`` for this deployment; HTTP providers are cached per URL."""
    if settings.embedded_chain:
        with _lock:
            w3 = _embedded.get("w3")
        if w3 is None:
            raise ConfigurationError("MANABI_RPC_URL=embedded but no embedded chain is running")
        return w3
    with _lock:
        w3 = _http.get(settings.rpc_url)
        if w3 is None:
            from web3 import HTTPProvider, Web3

            # No provider-level retries: the sender retries with backoff, and both
            # together could keep a Lambda busy for minutes on one call.
            w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 10},
                                   exception_retry_configuration=None))
            _http[settings.rpc_url] = w3
        return w3
