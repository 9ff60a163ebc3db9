"""ReskillingRights: ERC-4907 lending (setUser, lendWithSig) and learner protection."""

from __future__ import annotations

from tests.contracts.conftest import DAY, MAX_LENDING, PRICE, buy, lend, mint_jpyc
from tests.fixtures.chain import (
    deploy,
    events,
    next_timestamp,
    reverts,
    sign_lend,
    split_signature,
    transact,
    travel_to,
)

ZERO = "0x0000000000000000000000000000000000000000"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
UNUSED, LENT, CONSUMED = 0, 1, 2


def _lend_with_sig(w3, rights, accounts, token_id, *, signer=None, user=None, days=30, deadline=None, nonce=None):
    signer = signer or accounts.sponsor
    user = user or accounts.talent
    expires = next_timestamp(w3) + days * DAY
    deadline = deadline if deadline is not None else next_timestamp(w3) + DAY
    signature = sign_lend(w3, rights, accounts.key(signer), token_id, user, expires, deadline, nonce=nonce)
    return rights.functions.lendWithSig(token_id, user, expires, deadline, signature), expires


# --------------------------------------------------------------------------- setUser


def test_set_user_lends_the_right_and_emits_update_user_and_right_lent(w3, rights, funded, token_id):
    expires = next_timestamp(w3) + 30 * DAY
    receipt = transact(rights.functions.setUser(token_id, funded.talent, expires), funded.sponsor)
    assert rights.functions.userOf(token_id).call() == funded.talent
    assert rights.functions.userExpires(token_id).call() == expires
    assert rights.functions.rightStatus(token_id).call() == LENT
    assert rights.functions.isConsumed(token_id).call() is False
    assert events(rights, "UpdateUser", receipt) == [{"tokenId": token_id, "user": funded.talent, "expires": expires}]
    assert events(rights, "RightLent", receipt) == [
        {"tokenId": token_id, "owner": funded.sponsor, "user": funded.talent, "expires": expires}
    ]


def test_unused_right_has_no_user(rights, token_id):
    assert rights.functions.userOf(token_id).call() == ZERO
    assert rights.functions.userExpires(token_id).call() == 0
    assert rights.functions.rightStatus(token_id).call() == UNUSED


def test_set_user_by_approved_address_and_by_operator(w3, rights, jpyc, funded, program, token_id, relayer):
    transact(rights.functions.approve(funded.other, token_id), funded.sponsor)
    receipt = transact(
        rights.functions.setUser(token_id, funded.talent, next_timestamp(w3) + DAY), funded.other
    )
    assert events(rights, "RightLent", receipt)[0]["owner"] == funded.sponsor

    second = buy(w3, rights, jpyc, funded, program, relayer=relayer)
    transact(rights.functions.setApprovalForAll(funded.operator, True), funded.sponsor)
    transact(rights.functions.setUser(second, funded.talent, next_timestamp(w3) + DAY), funded.operator)
    assert rights.functions.userOf(second).call() == funded.talent


def test_set_user_by_stranger_reverts(w3, rights, funded, token_id):
    with reverts("ERC721InsufficientApproval", funded.other, token_id):
        rights.functions.setUser(token_id, funded.other, next_timestamp(w3) + DAY).transact({"from": funded.other})


def test_set_user_on_nonexistent_token_reverts(w3, rights, funded, program):
    with reverts("ERC721NonexistentToken", 5):
        rights.functions.setUser(5, funded.talent, next_timestamp(w3) + DAY).transact({"from": funded.sponsor})


def test_set_user_rejects_zero_user(w3, rights, funded, token_id):
    with reverts("ReskillingRightsInvalidUser", ZERO):
        rights.functions.setUser(token_id, ZERO, next_timestamp(w3) + DAY).transact({"from": funded.sponsor})


def test_set_user_rejects_expiry_now_or_in_the_past(w3, rights, funded, token_id):
    now = next_timestamp(w3)
    for expires in (now, now - 1, 0):
        with reverts("ReskillingRightsInvalidExpiry", expires, now + MAX_LENDING):
            rights.functions.setUser(token_id, funded.talent, expires).transact({"from": funded.sponsor})


def test_set_user_accepts_exactly_the_max_period_and_rejects_one_second_more(w3, rights, funded, token_id):
    now = next_timestamp(w3)
    with reverts("ReskillingRightsInvalidExpiry", now + MAX_LENDING + 1, now + MAX_LENDING):
        rights.functions.setUser(token_id, funded.talent, now + MAX_LENDING + 1).transact({"from": funded.sponsor})
    transact(rights.functions.setUser(token_id, funded.talent, now + MAX_LENDING), funded.sponsor)
    assert rights.functions.userExpires(token_id).call() == now + MAX_LENDING


# --------------------------------------------------------------------------- learner protection


def test_nobody_can_evict_change_shorten_or_extend_an_active_lending(w3, rights, funded, token_id):
    expires = lend(w3, rights, funded, token_id)
    transact(rights.functions.approve(funded.other, token_id), funded.sponsor)
    transact(rights.functions.setApprovalForAll(funded.operator, True), funded.sponsor)
    attempts = [
        (funded.talent, expires - DAY),  # shorten
        (funded.talent, expires + DAY),  # extend
        (funded.other, expires),  # change user
        (funded.sponsor, next_timestamp(w3) + 1),  # take the seat back
    ]
    for caller in (funded.sponsor, funded.other, funded.operator):
        for user, new_expiry in attempts:
            with reverts("ReskillingRightsActiveLending", token_id):
                rights.functions.setUser(token_id, user, new_expiry).transact({"from": caller})
        with reverts("ReskillingRightsInvalidUser", ZERO):  # removal is refused outright
            rights.functions.setUser(token_id, ZERO, 0).transact({"from": caller})
    assert rights.functions.userOf(token_id).call() == funded.talent
    assert rights.functions.userExpires(token_id).call() == expires


def test_transfer_keeps_user_and_expiry_and_new_owner_cannot_evict(w3, rights, funded, token_id):
    expires = lend(w3, rights, funded, token_id)
    receipt = transact(rights.functions.transferFrom(funded.sponsor, funded.other, token_id), funded.sponsor)
    assert events(rights, "UpdateUser", receipt) == []
    assert rights.functions.ownerOf(token_id).call() == funded.other
    assert rights.functions.userOf(token_id).call() == funded.talent
    assert rights.functions.userExpires(token_id).call() == expires
    assert rights.functions.rightStatus(token_id).call() == LENT
    with reverts("ReskillingRightsActiveLending", token_id):
        rights.functions.setUser(token_id, funded.other, expires).transact({"from": funded.other})


def test_safe_transfer_while_lent_also_keeps_the_user(w3, rights, funded, token_id):
    lend(w3, rights, funded, token_id)
    transact(
        rights.functions.safeTransferFrom(funded.sponsor, funded.other, token_id), funded.sponsor
    )
    assert rights.functions.userOf(token_id).call() == funded.talent


# --------------------------------------------------------------------------- lendWithSig


def test_lend_with_sig_by_relayer_lends_and_consumes_the_owner_nonce(w3, rights, funded, token_id, relayer):
    call, expires = _lend_with_sig(w3, rights, funded, token_id)
    assert rights.functions.nonces(funded.sponsor).call() == 0
    receipt = transact(call, relayer)
    assert rights.functions.nonces(funded.sponsor).call() == 1
    assert rights.functions.userOf(token_id).call() == funded.talent
    assert rights.functions.userExpires(token_id).call() == expires
    assert events(rights, "UpdateUser", receipt) == [{"tokenId": token_id, "user": funded.talent, "expires": expires}]
    assert events(rights, "RightLent", receipt) == [
        {"tokenId": token_id, "owner": funded.sponsor, "user": funded.talent, "expires": expires}
    ]


def test_replayed_lend_signature_is_refused_because_the_nonce_was_used(w3, rights, funded, token_id, relayer):
    call, _ = _lend_with_sig(w3, rights, funded, token_id)
    transact(call, relayer)
    with reverts("ReskillingRightsInvalidSigner", token_id, funded.sponsor):
        call.transact({"from": relayer})


def test_lend_signature_for_a_future_nonce_is_refused(w3, rights, funded, token_id, relayer):
    call, _ = _lend_with_sig(w3, rights, funded, token_id, nonce=1)
    with reverts("ReskillingRightsInvalidSigner", token_id, funded.sponsor):
        call.transact({"from": relayer})


def test_lend_with_expired_deadline_reverts(w3, rights, funded, token_id, relayer):
    deadline = next_timestamp(w3) - 1
    call, _ = _lend_with_sig(w3, rights, funded, token_id, deadline=deadline)
    with reverts("ReskillingRightsExpiredSignature", deadline):
        call.transact({"from": relayer})


def test_lend_at_exactly_the_deadline_is_accepted(w3, rights, funded, token_id, relayer):
    call, _ = _lend_with_sig(w3, rights, funded, token_id, deadline=next_timestamp(w3))
    transact(call, relayer)
    assert rights.functions.userOf(token_id).call() == funded.talent


def test_lend_signed_by_someone_other_than_the_owner_reverts(w3, rights, funded, token_id, relayer):
    call, _ = _lend_with_sig(w3, rights, funded, token_id, signer=funded.talent)
    with reverts("ReskillingRightsInvalidSigner", token_id, funded.sponsor):
        call.transact({"from": relayer})


def test_lend_signed_by_a_former_owner_after_transfer_reverts(w3, rights, funded, token_id, relayer):
    call, _ = _lend_with_sig(w3, rights, funded, token_id)
    transact(rights.functions.transferFrom(funded.sponsor, funded.other, token_id), funded.sponsor)
    with reverts("ReskillingRightsInvalidSigner", token_id, funded.other):
        call.transact({"from": relayer})
    # The new owner's own signature works.
    call, _ = _lend_with_sig(w3, rights, funded, token_id, signer=funded.other)
    transact(call, relayer)


def test_lend_with_tampered_arguments_reverts(w3, rights, funded, token_id, relayer):
    expires = next_timestamp(w3) + 30 * DAY
    deadline = next_timestamp(w3) + DAY
    signature = sign_lend(w3, rights, funded.key(funded.sponsor), token_id, funded.talent, expires, deadline)
    for user, exp in ((funded.other, expires), (funded.talent, expires + 1)):
        with reverts("ReskillingRightsInvalidSigner", token_id, funded.sponsor):
            rights.functions.lendWithSig(token_id, user, exp, deadline, signature).transact({"from": relayer})


def test_lend_with_high_s_signature_is_refused(w3, rights, funded, token_id, relayer):
    expires = next_timestamp(w3) + 30 * DAY
    deadline = next_timestamp(w3) + DAY
    signature = sign_lend(w3, rights, funded.key(funded.sponsor), token_id, funded.talent, expires, deadline)
    v, r, s = split_signature(signature)
    high_s = (SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")
    malleable = r + high_s + bytes([55 - v])  # same signer with the other parity: valid without the low-s rule
    with reverts("ReskillingRightsInvalidSigner", token_id, funded.sponsor):
        rights.functions.lendWithSig(token_id, funded.talent, expires, deadline, malleable).transact(
            {"from": relayer}
        )
    transact(rights.functions.lendWithSig(token_id, funded.talent, expires, deadline, signature), relayer)


def test_lend_with_malformed_signature_reverts(w3, rights, funded, token_id, relayer):
    expires = next_timestamp(w3) + 30 * DAY
    deadline = next_timestamp(w3) + DAY
    with reverts("ReskillingRightsInvalidSigner", token_id, funded.sponsor):
        rights.functions.lendWithSig(token_id, funded.talent, expires, deadline, b"\x01" * 64).transact(
            {"from": relayer}
        )


def test_lend_with_sig_on_an_active_lending_reverts(w3, rights, funded, token_id, relayer):
    lend(w3, rights, funded, token_id)
    call, _ = _lend_with_sig(w3, rights, funded, token_id, user=funded.other)
    with reverts("ReskillingRightsActiveLending", token_id):
        call.transact({"from": relayer})


def test_lend_with_sig_on_a_consumed_right_reverts(w3, rights, funded, token_id, relayer):
    expires = lend(w3, rights, funded, token_id, days=1)
    travel_to(w3, expires)
    call, _ = _lend_with_sig(w3, rights, funded, token_id)
    with reverts("ReskillingRightsConsumed", token_id):
        call.transact({"from": relayer})


def test_lend_with_sig_applies_the_lending_rules(w3, rights, funded, token_id, relayer):
    now = next_timestamp(w3)
    deadline = now + DAY
    too_late = now + MAX_LENDING + 1
    signature = sign_lend(w3, rights, funded.key(funded.sponsor), token_id, funded.talent, too_late, deadline)
    with reverts("ReskillingRightsInvalidExpiry", too_late, now + MAX_LENDING):
        rights.functions.lendWithSig(token_id, funded.talent, too_late, deadline, signature).transact(
            {"from": relayer}
        )
    signature = sign_lend(w3, rights, funded.key(funded.sponsor), token_id, ZERO, now + DAY, deadline)
    with reverts("ReskillingRightsInvalidUser", ZERO):
        rights.functions.lendWithSig(token_id, ZERO, now + DAY, deadline, signature).transact({"from": relayer})


def test_lend_with_sig_on_nonexistent_token_reverts(w3, rights, funded, program, relayer):
    call, _ = _lend_with_sig(w3, rights, funded, 9)
    with reverts("ERC721NonexistentToken", 9):
        call.transact({"from": relayer})


def test_smart_wallet_owner_lends_with_an_erc1271_signature(w3, rights, jpyc, funded, program, relayer):
    wallet = deploy(w3, "TestSmartWallet", funded.sponsor, sender=funded.sponsor)
    mint_jpyc(jpyc, funded, wallet.address, PRICE)
    transact(
        wallet.functions.execute(jpyc.address, jpyc.encode_abi("approve", [rights.address, PRICE])), funded.sponsor
    )
    transact(
        rights.functions.purchaseWithPermit(program.id, wallet.address, 0, 0, b"\x00" * 32, b"\x00" * 32), relayer
    )
    token_id = 1
    expires = next_timestamp(w3) + 30 * DAY
    deadline = next_timestamp(w3) + DAY
    signature = sign_lend(
        w3, rights, funded.key(funded.sponsor), token_id, funded.talent, expires, deadline, owner=wallet.address
    )
    # A signature by another key is refused by the wallet.
    bad = sign_lend(w3, rights, funded.key(funded.other), token_id, funded.talent, expires, deadline, nonce=0)
    with reverts("ReskillingRightsInvalidSigner", token_id, wallet.address):
        rights.functions.lendWithSig(token_id, funded.talent, expires, deadline, bad).transact({"from": relayer})

    receipt = transact(rights.functions.lendWithSig(token_id, funded.talent, expires, deadline, signature), relayer)
    assert events(rights, "RightLent", receipt)[0]["owner"] == wallet.address
    assert rights.functions.nonces(wallet.address).call() == 1
    assert rights.functions.userOf(token_id).call() == funded.talent
