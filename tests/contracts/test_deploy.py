"""manabi.deploy: deploying the contracts and granting the operator its roles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from eth_utils import is_checksum_address

from chalicelib.chain.contracts import abi_dir
from chalicelib.errors import ConfigurationError
from manabi.deploy import Deployment, DeploymentError, _send, deploy_contracts, load_artifact
from tests.fixtures.chain import contract_at

REPO = Path(__file__).resolve().parents[2]


def test_deploy_contracts_deploys_everything_and_grants_roles(w3, accounts):
    deployment = deploy_contracts(
        w3, deployer=accounts.deployer, operator=accounts.operator.lower(), treasury=accounts.treasury.lower()
    )
    assert deployment.chain_id == w3.eth.chain_id
    for address in (deployment.jpyc, deployment.rights, deployment.distributor, deployment.anchor):
        assert is_checksum_address(address)
        assert w3.eth.get_code(address) != b""

    jpyc = contract_at(w3, "TestJPYC", deployment.jpyc)
    rights = contract_at(w3, "ReskillingRights", deployment.rights)
    distributor = contract_at(w3, "PayoutDistributor", deployment.distributor)
    anchor = contract_at(w3, "LearningRecordAnchor", deployment.anchor)
    assert jpyc.functions.owner().call() == accounts.deployer
    assert rights.functions.paymentToken().call() == deployment.jpyc
    assert distributor.functions.treasury().call() == accounts.treasury
    for contract, role in ((rights, "OPERATOR_ROLE"), (distributor, "SETTLER_ROLE"), (anchor, "RECORDER_ROLE")):
        admin = contract.functions.DEFAULT_ADMIN_ROLE().call()
        assert contract.functions.hasRole(admin, accounts.deployer).call()
        assert contract.functions.hasRole(contract.functions[role]().call(), accounts.operator).call()
        assert not contract.functions.hasRole(admin, accounts.operator).call()


def test_deploy_contracts_uses_an_existing_jpyc(w3, accounts):
    first = deploy_contracts(w3, deployer=accounts.deployer, operator=accounts.operator, treasury=accounts.treasury)
    second = deploy_contracts(
        w3, deployer=accounts.deployer, operator=accounts.operator, treasury=accounts.treasury, jpyc=first.jpyc.lower()
    )
    assert second.jpyc == first.jpyc
    assert contract_at(w3, "ReskillingRights", second.rights).functions.paymentToken().call() == first.jpyc
    assert second.rights != first.rights


def test_deployment_as_dict(deployment):
    assert deployment.as_dict() == {
        "chain_id": deployment.chain_id,
        "jpyc": deployment.jpyc,
        "rights": deployment.rights,
        "distributor": deployment.distributor,
        "anchor": deployment.anchor,
    }
    assert Deployment(**deployment.as_dict()) == deployment


def test_failed_deployment_transaction_raises(w3, accounts):
    from eth_tester.exceptions import TransactionFailed

    with pytest.raises(TransactionFailed):  # estimation already sees the revert
        deploy_contracts(
            w3,
            deployer=accounts.deployer,
            operator=accounts.operator,
            treasury=accounts.treasury,
            jpyc="0x0000000000000000000000000000000000000000",
        )


def test_receipt_with_status_zero_raises_deployment_error(w3, accounts):
    artifact = load_artifact("ReskillingRights")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    failing = factory.constructor(accounts.deployer, "0x0000000000000000000000000000000000000000")

    class ExplicitGas:  # py-evm mines a transaction with explicit gas even if it reverts
        def transact(self, tx):
            return failing.transact({**tx, "gas": 3_000_000})

    with pytest.raises(DeploymentError, match="deploy ReskillingRights failed"):
        _send(w3, ExplicitGas(), accounts.deployer, "deploy ReskillingRights")


def test_load_artifact_reads_contracts_abi():
    artifact = load_artifact("PayoutDistributor")
    assert abi_dir() == REPO / "contracts_abi"
    assert artifact["contractName"] == "PayoutDistributor"
    assert artifact["bytecode"].startswith("0x60")
    with pytest.raises(ConfigurationError):
        load_artifact("NoSuchContract")


def test_importing_deploy_does_not_import_web3():
    code = "import sys, manabi.deploy; sys.exit('web3' in sys.modules or 'eth_account' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr or "manabi.deploy imported web3 at module level"


def test_the_kms_key_deploys_and_holds_every_role(w3, accounts, kms_signer):
    """Production path: every deployment transaction signed in KMS and sent raw."""
    from chalicelib.chain.contracts import contract

    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": accounts.deployer, "to": kms_signer.address, "value": 10**19}))
    assert receipt["status"] == 1
    jpyc = deploy_contracts(w3, deployer=accounts.deployer, operator=accounts.operator,
                            treasury=accounts.treasury).jpyc
    deployment = deploy_contracts(w3, deployer=kms_signer, operator=kms_signer.address,
                                  treasury=accounts.treasury, jpyc=jpyc)
    assert deployment.jpyc == jpyc
    for name, address, role in (("ReskillingRights", deployment.rights, "OPERATOR_ROLE"),
                                ("PayoutDistributor", deployment.distributor, "SETTLER_ROLE"),
                                ("LearningRecordAnchor", deployment.anchor, "RECORDER_ROLE")):
        deployed = contract(w3, name, address)
        assert deployed.functions.hasRole(deployed.functions[role]().call(), kms_signer.address).call()
        assert deployed.functions.hasRole(b"\0" * 32, kms_signer.address).call()  # admin
    assert w3.eth.get_transaction_count(kms_signer.address) == 6  # 3 deployments + 3 grants
