"""Deploy the Manabi Relay contracts.

Two ways to send: an account unlocked on the node (``transact({"from": ...})``:
the embedded py-evm chain of the local stack and the tests), or a signer whose
key never leaves its vault (the city's KMS key, ``KmsSigner``), whose signed
transactions are sent raw — how ``manabi deploy-contracts`` deploys to Polygon.

web3 is imported only inside functions (Lambda cold-start rule).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

class TransactionSigner(Protocol):
    """What deploying needs of a key that is not unlocked on the node (e.g. ``KmsSigner``)."""

    @property
    def address(self) -> str: ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes: ...


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
    deployer: str | TransactionSigner,
    operator: str,
    treasury: str,
    jpyc: str | None = None,
) -> Deployment:
    """Deploy ReskillingRights, PayoutDistributor and LearningRecordAnchor, and TestJPYC if ``jpyc`` is None.

    ``deployer`` becomes the admin (``DEFAULT_ADMIN_ROLE``) of every contract and the
    owner of TestJPYC; ``operator`` gets ``OPERATOR_ROLE``, ``SETTLER_ROLE`` and
    ``RECORDER_ROLE``; payouts are drawn from ``treasury``. Only ``deployer``
    sends transactions, so only it must be unlocked on the node — or, in
    production, ``deployer`` is a signer (the KMS key: ``KmsSigner``) and every
    transaction is signed by it and sent raw.

    Raises DeploymentError if any transaction is mined with status 0.
    """
    from web3 import Web3

    if isinstance(deployer, str):
        admin = Web3.to_checksum_address(deployer)
        sender: Any = admin
    else:
        admin, sender = deployer.address, deployer
    operator = Web3.to_checksum_address(operator)
    treasury = Web3.to_checksum_address(treasury)

    if jpyc is None:
        jpyc = _deploy(w3, "TestJPYC", sender, admin)
    else:
        jpyc = Web3.to_checksum_address(jpyc)
    rights = _deploy(w3, "ReskillingRights", sender, admin, jpyc)
    distributor = _deploy(w3, "PayoutDistributor", sender, admin, treasury)
    anchor = _deploy(w3, "LearningRecordAnchor", sender, admin)

    for name, address, role in (
        ("ReskillingRights", rights, "OPERATOR_ROLE"),
        ("PayoutDistributor", distributor, "SETTLER_ROLE"),
        ("LearningRecordAnchor", anchor, "RECORDER_ROLE"),
    ):
        contract = _contract(w3, name, address)
        role_id = contract.functions[role]().call()
        _send(w3, contract.functions.grantRole(role_id, operator), sender, f"{name}.grantRole({role})")

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


def _send(w3: Web3, call: Any, sender: str | TransactionSigner, what: str) -> Any:
    if isinstance(sender, str):
        tx_hash = call.transact({"from": sender})
    else:
        tx_hash = _send_signed(w3, call, sender)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300)
    if receipt["status"] != 1:
        raise DeploymentError(f"{what} failed (tx {tx_hash.hex()})")
    return receipt


def _send_signed(w3: Web3, call: Any, signer: TransactionSigner) -> Any:
    """Build an EIP-1559 transaction for ``call``, have ``signer`` sign it, send it raw.

    A one-off for deployment (the relayer's ledger starts after it): the nonce is
    the signer's pending count, fees twice the base fee plus a 30 gwei tip.
    """
    base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"])
    tip = 30 * 10**9
    tx = call.build_transaction({
        "from": signer.address,
        "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
        "maxPriorityFeePerGas": tip,
        "maxFeePerGas": 2 * base_fee + tip,
        "chainId": w3.eth.chain_id,
        "type": 2,
    })
    tx.pop("from", None)
    tx["gas"] = tx["gas"] * 125 // 100
    return w3.eth.send_raw_transaction(signer.sign_transaction(tx))
