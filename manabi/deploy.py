"""Deploy the Manabi Relay contracts to a chain whose accounts are unlocked.

Used by the embedded py-evm chain of the local stack and by the tests. It sends
transactions with ``transact({"from": ...})``, so it needs a node that signs for
the deployer and the operator (eth-tester does). Production deployments go
through the KMS signer instead.

web3 is imported only inside functions (Lambda cold-start rule).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from web3 import Web3
    from web3.contract import Contract



@dataclass(frozen=True)
class Deployment:
    """Addresses (checksummed) of one deployment of the contracts, and its chain id."""

    chain_id: int
    jpyc: str
    rights: str
    distributor: str
    anchor: str

    def as_dict(self) -> dict[str, str | int]:
        """Return the deployment as a JSON-ready dict with the field names as keys."""
        return asdict(self)


class DeploymentError(RuntimeError):
    """A deployment transaction was mined with a failing status."""


def load_artifact(name: str) -> dict[str, Any]:
    """Return the compiled artifact ``contracts_abi/<name>.json`` (keys ``abi``, ``bytecode``, ...).

    The same loader the Lambda functions use; raises ConfigurationError for an unknown name.
    """
    from chalicelib.chain.contracts import artifact

    return artifact(name)


def deploy_contracts(
    w3: Web3,
    *,
    deployer: str,
    operator: str,
    treasury: str,
    jpyc: str | None = None,
) -> Deployment:
    """Deploy ReskillingRights, PayoutDistributor and LearningRecordAnchor, and TestJPYC if ``jpyc`` is None.

    ``deployer`` becomes the admin (``DEFAULT_ADMIN_ROLE``) of every contract and the
    owner of TestJPYC; ``operator`` gets ``OPERATOR_ROLE``, ``SETTLER_ROLE`` and
    ``RECORDER_ROLE``; payouts are drawn from ``treasury``. Only ``deployer``
    sends transactions, so only it must be unlocked on the node.

    Raises DeploymentError if any transaction is mined with status 0.
    """
    from web3 import Web3

    deployer = Web3.to_checksum_address(deployer)
    operator = Web3.to_checksum_address(operator)
    treasury = Web3.to_checksum_address(treasury)

    if jpyc is None:
        jpyc = _deploy(w3, "TestJPYC", deployer, deployer)
    else:
        jpyc = Web3.to_checksum_address(jpyc)
    rights = _deploy(w3, "ReskillingRights", deployer, deployer, jpyc)
    distributor = _deploy(w3, "PayoutDistributor", deployer, deployer, treasury)
    anchor = _deploy(w3, "LearningRecordAnchor", deployer, deployer)

    for name, address, role in (
        ("ReskillingRights", rights, "OPERATOR_ROLE"),
        ("PayoutDistributor", distributor, "SETTLER_ROLE"),
        ("LearningRecordAnchor", anchor, "RECORDER_ROLE"),
    ):
        contract = _contract(w3, name, address)
        role_id = contract.functions[role]().call()
        _send(w3, contract.functions.grantRole(role_id, operator), deployer, f"{name}.grantRole({role})")

    return Deployment(
        chain_id=w3.eth.chain_id,
        jpyc=jpyc,
        rights=rights,
        distributor=distributor,
        anchor=anchor,
    )


def _contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def _deploy(w3: Web3, name: str, deployer: str, *args: Any) -> str:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = _send(w3, factory.constructor(*args), deployer, f"deploy {name}")
    return receipt["contractAddress"]


def _send(w3: Web3, call: Any, sender: str, what: str) -> Any:
    tx_hash = call.transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise DeploymentError(f"{what} failed (tx {tx_hash.hex()})")
    return receipt
