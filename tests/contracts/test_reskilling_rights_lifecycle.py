"""ReskillingRights: use once (consumption by expiry or completion), renewal, and the transfer lock."""

from __future__ import annotations

from tests.contracts.conftest import DAY, PRICE, buy, create_program, lend
from tests.fixtures.chain import (
    events,
    next_timestamp,
    reverts,
    sign_permit,
    transact,
    travel,
    travel_to,
)

ZERO = "0x0000000000000000000000000000000000000000"
NO_SIG = (0, 0, b"\x00" * 32, b"\x00" * 32)
UNUSED, LENT, CONSUMED = 0, 1, 2


def _renew_permit(w3, jpyc, rights, accounts, payer, value=PRICE):
    deadline = next_timestamp(w3) + DAY
    v, r, s = sign_permit(w3, jpyc, accounts.key(payer), rights.address, value, deadline)
    return deadline, v, r, s


def _consume(w3, rights, accounts, token_id):
    """Lend for a day and travel to the expiry: the next transaction (and "pending" views) see it consumed."""
    expires = lend(w3, rights, accounts, token_id, days=1)
    travel_to(w3, expires)
    return expires


# --------------------------------------------------------------------------- consumption


def test_right_is_lent_until_one_second_before_expiry_then_consumed(w3, rights, funded, token_id):
    expires = lend(w3, rights, funded, token_id, days=1)
    travel_to(w3, expires - 1)
    transact(rights.functions.setProgramPrice(1, PRICE), funded.operator)  # mine a block at expires - 1
    assert w3.eth.get_block("latest")["timestamp"] == expires - 1
    assert rights.functions.rightStatus(token_id).call(block_identifier="latest") == LENT
    assert rights.functions.userOf(token_id).call(block_identifier="latest") == funded.talent

    transact(rights.functions.setProgramPrice(1, PRICE), funded.operator)  # mined at exactly `expires`
    assert w3.eth.get_block("latest")["timestamp"] == expires
    assert rights.functions.rightStatus(token_id).call(block_identifier="latest") == CONSUMED
    assert rights.functions.isConsumed(token_id).call(block_identifier="latest") is True
    assert rights.functions.userOf(token_id).call(block_identifier="latest") == ZERO
    assert rights.functions.userExpires(token_id).call(block_identifier="latest") == expires


def test_consumed_right_cannot_be_lent_again(w3, rights, funded, token_id):
    _consume(w3, rights, funded, token_id)
    with reverts("ReskillingRightsConsumed", token_id):
        rights.functions.setUser(token_id, funded.talent, next_timestamp(w3) + DAY).transact(
            {"from": funded.sponsor}
        )


def test_consumed_right_stays_tradable(w3, rights, funded, token_id):
    _consume(w3, rights, funded, token_id)
    assert rights.functions.isConsumed(token_id).call(block_identifier="pending") is True
    transact(rights.functions.transferFrom(funded.sponsor, funded.other, token_id), funded.sponsor)
    assert rights.functions.ownerOf(token_id).call() == funded.other
    assert rights.functions.isConsumed(token_id).call() is True


def test_record_completion_ends_the_lending_now_and_consumes_the_right(w3, rights, funded, token_id):
    lend(w3, rights, funded, token_id)
    now = next_timestamp(w3)
    receipt = transact(rights.functions.recordCompletion(token_id), funded.operator)
    assert events(rights, "UpdateUser", receipt) == [{"tokenId": token_id, "user": funded.talent, "expires": now}]
    assert events(rights, "CourseCompleted", receipt) == [{"tokenId": token_id, "user": funded.talent}]
    assert rights.functions.rightStatus(token_id).call() == CONSUMED
    assert rights.functions.userOf(token_id).call() == ZERO
    assert rights.functions.userExpires(token_id).call() == now
    with reverts("ReskillingRightsConsumed", token_id):
        rights.functions.setUser(token_id, funded.talent, next_timestamp(w3) + DAY).transact(
            {"from": funded.sponsor}
        )


def test_record_completion_requires_an_active_lending(w3, rights, funded, token_id):
    with reverts("ReskillingRightsNotLent", token_id):
        rights.functions.recordCompletion(token_id).transact({"from": funded.operator})
    _consume(w3, rights, funded, token_id)
    with reverts("ReskillingRightsNotLent", token_id):
        rights.functions.recordCompletion(token_id).transact({"from": funded.operator})


def test_record_completion_requires_operator_role_and_existing_token(w3, rights, funded, token_id):
    lend(w3, rights, funded, token_id)
    role = rights.functions.OPERATOR_ROLE().call()
    for caller in (funded.sponsor, funded.talent):
        with reverts("AccessControlUnauthorizedAccount", caller, role):
            rights.functions.recordCompletion(token_id).transact({"from": caller})
    with reverts("ERC721NonexistentToken", 77):
        rights.functions.recordCompletion(77).transact({"from": funded.operator})


# --------------------------------------------------------------------------- renewal


def test_renew_with_permit_pays_current_price_and_makes_the_right_unused(w3, rights, jpyc, funded, token_id, relayer):
    _consume(w3, rights, funded, token_id)
    transact(rights.functions.setProgramPrice(1, PRICE // 2), funded.operator)
    treasury_before = jpyc.functions.balanceOf(funded.treasury).call()
    deadline, v, r, s = _renew_permit(w3, jpyc, rights, funded, funded.sponsor, PRICE // 2)

    receipt = transact(rights.functions.renewWithPermit(token_id, funded.sponsor, deadline, v, r, s), relayer)

    assert jpyc.functions.balanceOf(funded.treasury).call() == treasury_before + PRICE // 2
    assert rights.functions.rightStatus(token_id).call() == UNUSED
    assert rights.functions.userOf(token_id).call() == ZERO
    assert rights.functions.userExpires(token_id).call() == 0
    assert events(rights, "UpdateUser", receipt) == [{"tokenId": token_id, "user": ZERO, "expires": 0}]
    assert events(rights, "RightRenewed", receipt) == [
        {"tokenId": token_id, "payer": funded.sponsor, "price": PRICE // 2}
    ]
    assert events(jpyc, "Transfer", receipt) == [
        {"from": funded.sponsor, "to": funded.treasury, "value": PRICE // 2}
    ]
    # Lendable again.
    lend(w3, rights, funded, token_id)
    assert rights.functions.rightStatus(token_id).call() == LENT


def test_renew_after_completion(w3, rights, jpyc, funded, token_id, relayer):
    lend(w3, rights, funded, token_id)
    transact(rights.functions.recordCompletion(token_id), funded.operator)
    deadline, v, r, s = _renew_permit(w3, jpyc, rights, funded, funded.sponsor)
    transact(rights.functions.renewWithPermit(token_id, funded.sponsor, deadline, v, r, s), relayer)
    assert rights.functions.rightStatus(token_id).call() == UNUSED


def test_renew_succeeds_when_the_permit_was_front_run(w3, rights, jpyc, funded, token_id, relayer):
    _consume(w3, rights, funded, token_id)
    deadline, v, r, s = _renew_permit(w3, jpyc, rights, funded, funded.sponsor)
    transact(jpyc.functions.permit(funded.sponsor, rights.address, PRICE, deadline, v, r, s), funded.other)
    transact(rights.functions.renewWithPermit(token_id, funded.sponsor, deadline, v, r, s), relayer)
    assert rights.functions.rightStatus(token_id).call() == UNUSED


def test_renew_without_permit_or_allowance_reverts(w3, rights, jpyc, funded, token_id, relayer):
    _consume(w3, rights, funded, token_id)
    with reverts("ReskillingRightsInsufficientAllowance", funded.sponsor, 0, PRICE):
        rights.functions.renewWithPermit(token_id, funded.sponsor, *NO_SIG).transact({"from": relayer})
    assert rights.functions.isConsumed(token_id).call(block_identifier="pending") is True


def test_renew_requires_a_consumed_right(w3, rights, jpyc, funded, token_id, relayer):
    deadline, v, r, s = _renew_permit(w3, jpyc, rights, funded, funded.sponsor)
    with reverts("ReskillingRightsNotConsumed", token_id):  # unused
        rights.functions.renewWithPermit(token_id, funded.sponsor, deadline, v, r, s).transact({"from": relayer})
    lend(w3, rights, funded, token_id)
    with reverts("ReskillingRightsNotConsumed", token_id):  # lent
        rights.functions.renewWithPermit(token_id, funded.sponsor, deadline, v, r, s).transact({"from": relayer})
    with reverts("ERC721NonexistentToken", 50):
        rights.functions.renewWithPermit(50, funded.sponsor, deadline, v, r, s).transact({"from": relayer})


def test_renew_refuses_to_charge_a_third_party(w3, rights, jpyc, funded, token_id, relayer):
    _consume(w3, rights, funded, token_id)
    # `other` has a standing allowance; a relayer must not be able to spend it on the sponsor's right.
    transact(jpyc.functions.approve(rights.address, PRICE), funded.other)
    with reverts("ReskillingRightsInvalidPayer", funded.other):
        rights.functions.renewWithPermit(token_id, funded.other, *NO_SIG).transact({"from": relayer})
    # But `other` may pay for it by calling directly.
    receipt = transact(rights.functions.renewWithPermit(token_id, funded.other, *NO_SIG), funded.other)
    assert events(rights, "RightRenewed", receipt)[0]["payer"] == funded.other
    assert rights.functions.rightStatus(token_id).call() == UNUSED


# --------------------------------------------------------------------------- transfer lock


def test_locked_program_refuses_transfers_between_holders(w3, rights, funded, token_id, program):
    transact(rights.functions.setTransfersLocked(program.id, True), funded.operator)
    with reverts("ReskillingRightsTransfersLocked", program.id):
        rights.functions.transferFrom(funded.sponsor, funded.other, token_id).transact({"from": funded.sponsor})
    with reverts("ReskillingRightsTransfersLocked", program.id):
        rights.functions.safeTransferFrom(funded.sponsor, funded.other, token_id).transact({"from": funded.sponsor})
    transact(rights.functions.setApprovalForAll(funded.operator, True), funded.sponsor)
    with reverts("ReskillingRightsTransfersLocked", program.id):
        rights.functions.transferFrom(funded.sponsor, funded.other, token_id).transact({"from": funded.operator})
    assert rights.functions.ownerOf(token_id).call() == funded.sponsor


def test_unauthorized_transfer_of_a_locked_token_reports_missing_approval(rights, funded, token_id, program):
    transact(rights.functions.setTransfersLocked(program.id, True), funded.operator)
    with reverts("ERC721InsufficientApproval", funded.other, token_id):
        rights.functions.transferFrom(funded.sponsor, funded.other, token_id).transact({"from": funded.other})


def test_minting_still_works_while_transfers_are_locked(w3, rights, jpyc, funded, program, relayer):
    transact(rights.functions.setTransfersLocked(program.id, True), funded.operator)
    token_id = buy(w3, rights, jpyc, funded, program, relayer=relayer)
    assert rights.functions.ownerOf(token_id).call() == funded.sponsor
    transact(rights.functions.mintPaidOffChain(program.id, funded.other, b"\x01" * 32), funded.operator)
    assert rights.functions.ownerOf(token_id + 1).call() == funded.other


def test_lending_and_consumption_still_work_while_transfers_are_locked(w3, rights, funded, token_id, program):
    transact(rights.functions.setTransfersLocked(program.id, True), funded.operator)
    lend(w3, rights, funded, token_id)
    transact(rights.functions.recordCompletion(token_id), funded.operator)
    assert rights.functions.isConsumed(token_id).call() is True


def test_unlocking_allows_transfers_again(rights, funded, token_id, program):
    transact(rights.functions.setTransfersLocked(program.id, True), funded.operator)
    transact(rights.functions.setTransfersLocked(program.id, False), funded.operator)
    receipt = transact(rights.functions.transferFrom(funded.sponsor, funded.other, token_id), funded.sponsor)
    assert events(rights, "Transfer", receipt) == [{"from": funded.sponsor, "to": funded.other, "tokenId": token_id}]


def test_lock_applies_only_to_its_program(w3, rights, jpyc, funded, token_id, program, relayer):
    other_program = create_program(rights, funded, 2)
    other_token = buy(w3, rights, jpyc, funded, other_program, relayer=relayer)
    transact(rights.functions.setTransfersLocked(program.id, True), funded.operator)
    transact(rights.functions.transferFrom(funded.sponsor, funded.other, other_token), funded.sponsor)
    assert rights.functions.ownerOf(other_token).call() == funded.other
    with reverts("ReskillingRightsTransfersLocked", program.id):
        rights.functions.transferFrom(funded.sponsor, funded.other, token_id).transact({"from": funded.sponsor})


def test_travel_helper_moves_time_forward(w3):
    before = next_timestamp(w3)
    assert travel(w3, 3600) == before + 3600
    assert next_timestamp(w3) == before + 3600
