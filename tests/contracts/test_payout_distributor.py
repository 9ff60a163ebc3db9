"""PayoutDistributor: batch payouts from the treasury, once per batch id."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from manabi.deploy import load_artifact
from tests.contracts.conftest import mint_jpyc
from tests.fixtures.chain import JPYC, events, reverts, transact

ZERO = "0x0000000000000000000000000000000000000000"
BATCH = keccak(text="payout-batch-2024-07")


@pytest.fixture
def treasury_approved(jpyc, distributor, accounts):
    """The treasury holds 1,000,000 JPYC and approved the distributor for all of it."""
    mint_jpyc(jpyc, accounts, accounts.treasury, 1_000_000 * JPYC)
    transact(jpyc.functions.approve(distributor.address, 1_000_000 * JPYC), accounts.treasury)
    return accounts


def test_constructor_sets_roles_and_treasury(distributor, accounts):
    assert distributor.functions.treasury().call() == accounts.treasury
    assert distributor.functions.SETTLER_ROLE().call() == keccak(text="SETTLER_ROLE")
    assert distributor.functions.hasRole(distributor.functions.DEFAULT_ADMIN_ROLE().call(), accounts.deployer).call()
    assert distributor.functions.hasRole(distributor.functions.SETTLER_ROLE().call(), accounts.operator).call()
    assert distributor.functions.supportsInterface(bytes.fromhex("7965db0b")).call()


def test_constructor_rejects_zero_treasury_and_emits_treasury_changed(w3, accounts):
    artifact = load_artifact("PayoutDistributor")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    with reverts("PayoutDistributorInvalidTreasury", ZERO):
        factory.constructor(accounts.deployer, ZERO).transact({"from": accounts.deployer})
    receipt = transact(factory.constructor(accounts.deployer, accounts.treasury), accounts.deployer)
    deployed = w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    assert events(deployed, "TreasuryChanged", receipt) == [
        {"previousTreasury": ZERO, "newTreasury": accounts.treasury}
    ]


def test_distribute_pays_every_recipient_exactly_and_emits_batch_settled(jpyc, distributor, treasury_approved):
    accounts = treasury_approved
    recipients = [accounts.sponsor, accounts.talent, accounts.other, accounts.sponsor]
    amounts = [27_500 * JPYC + 1, 13_750 * JPYC, 1, 999]
    total = sum(amounts)
    assert not distributor.functions.settled(BATCH).call()

    receipt = transact(distributor.functions.distribute(BATCH, jpyc.address, recipients, amounts), accounts.operator)

    assert jpyc.functions.balanceOf(accounts.sponsor).call() == 27_500 * JPYC + 1 + 999
    assert jpyc.functions.balanceOf(accounts.talent).call() == 13_750 * JPYC
    assert jpyc.functions.balanceOf(accounts.other).call() == 1
    assert jpyc.functions.balanceOf(accounts.treasury).call() == 1_000_000 * JPYC - total
    assert jpyc.functions.balanceOf(distributor.address).call() == 0
    assert jpyc.functions.allowance(accounts.treasury, distributor.address).call() == 1_000_000 * JPYC - total
    assert distributor.functions.settled(BATCH).call()
    assert events(distributor, "BatchSettled", receipt) == [
        {"batchId": BATCH, "token": jpyc.address, "count": 4, "total": total}
    ]
    assert events(jpyc, "Transfer", receipt) == [
        {"from": accounts.treasury, "to": to, "value": value} for to, value in zip(recipients, amounts)
    ]


def test_distribute_refuses_a_settled_batch_id(jpyc, distributor, treasury_approved):
    accounts = treasury_approved
    transact(distributor.functions.distribute(BATCH, jpyc.address, [accounts.talent], [5]), accounts.operator)
    with reverts("PayoutDistributorBatchAlreadySettled", BATCH):
        distributor.functions.distribute(BATCH, jpyc.address, [accounts.talent], [5]).transact(
            {"from": accounts.operator}
        )
    assert jpyc.functions.balanceOf(accounts.talent).call() == 5
    # Another batch id goes through.
    transact(
        distributor.functions.distribute(keccak(text="next"), jpyc.address, [accounts.talent], [5]), accounts.operator
    )
    assert jpyc.functions.balanceOf(accounts.talent).call() == 10


@pytest.mark.parametrize(
    ("recipients", "amounts", "error", "args"),
    [
        (["talent", "other"], [1], "PayoutDistributorLengthMismatch", (2, 1)),
        (["talent"], [1, 2], "PayoutDistributorLengthMismatch", (1, 2)),
        ([], [], "PayoutDistributorEmptyBatch", ()),
        (["talent", "zero"], [1, 1], "PayoutDistributorInvalidRecipient", (1,)),
        (["talent", "other", "sponsor"], [1, 1, 0], "PayoutDistributorInvalidAmount", (2,)),
    ],
)
def test_distribute_rejects_malformed_batches(jpyc, distributor, treasury_approved, recipients, amounts, error, args):
    accounts = treasury_approved
    named = {"talent": accounts.talent, "other": accounts.other, "sponsor": accounts.sponsor, "zero": ZERO}
    with reverts(error, *args) as info:
        distributor.functions.distribute(BATCH, jpyc.address, [named[r] for r in recipients], amounts).transact(
            {"from": accounts.operator}
        )
    assert info.args == args
    assert not distributor.functions.settled(BATCH).call()


def test_distribute_requires_settler_role(jpyc, distributor, treasury_approved):
    accounts = treasury_approved
    role = distributor.functions.SETTLER_ROLE().call()
    for caller in (accounts.deployer, accounts.treasury):
        with reverts("AccessControlUnauthorizedAccount", caller, role):
            distributor.functions.distribute(BATCH, jpyc.address, [accounts.talent], [1]).transact({"from": caller})


def test_too_low_treasury_allowance_reverts_and_leaves_the_batch_unsettled(jpyc, distributor, accounts):
    mint_jpyc(jpyc, accounts, accounts.treasury, 100)
    transact(jpyc.functions.approve(distributor.address, 99), accounts.treasury)
    with reverts("ERC20InsufficientAllowance", distributor.address, 49, 50):
        distributor.functions.distribute(BATCH, jpyc.address, [accounts.talent, accounts.other], [50, 50]).transact(
            {"from": accounts.operator}
        )
    assert not distributor.functions.settled(BATCH).call()
    assert jpyc.functions.balanceOf(accounts.talent).call() == 0
    assert jpyc.functions.balanceOf(accounts.treasury).call() == 100


def test_too_low_treasury_balance_reverts_and_leaves_the_batch_unsettled(jpyc, distributor, accounts):
    mint_jpyc(jpyc, accounts, accounts.treasury, 10)
    transact(jpyc.functions.approve(distributor.address, 1_000), accounts.treasury)
    with reverts("ERC20InsufficientBalance", accounts.treasury, 10, 11):
        distributor.functions.distribute(BATCH, jpyc.address, [accounts.talent], [11]).transact(
            {"from": accounts.operator}
        )
    assert not distributor.functions.settled(BATCH).call()


def test_token_without_code_reverts(distributor, deployment, accounts):
    with reverts("SafeERC20FailedOperation", accounts.other):
        distributor.functions.distribute(BATCH, accounts.other, [accounts.talent], [1]).transact(
            {"from": accounts.operator}
        )
    assert not distributor.functions.settled(BATCH).call()


def test_set_treasury_changes_where_payouts_come_from(jpyc, distributor, accounts):
    new_treasury = accounts.all[7]
    receipt = transact(distributor.functions.setTreasury(new_treasury), accounts.deployer)
    assert events(distributor, "TreasuryChanged", receipt) == [
        {"previousTreasury": accounts.treasury, "newTreasury": new_treasury}
    ]
    assert distributor.functions.treasury().call() == new_treasury
    mint_jpyc(jpyc, accounts, new_treasury, 7)
    transact(jpyc.functions.approve(distributor.address, 7), new_treasury)
    transact(distributor.functions.distribute(BATCH, jpyc.address, [accounts.talent], [7]), accounts.operator)
    assert jpyc.functions.balanceOf(new_treasury).call() == 0


def test_set_treasury_rejects_zero_and_requires_admin(distributor, accounts):
    with reverts("PayoutDistributorInvalidTreasury", ZERO):
        distributor.functions.setTreasury(ZERO).transact({"from": accounts.deployer})
    admin = distributor.functions.DEFAULT_ADMIN_ROLE().call()
    with reverts("AccessControlUnauthorizedAccount", accounts.operator, admin):
        distributor.functions.setTreasury(accounts.other).transact({"from": accounts.operator})
