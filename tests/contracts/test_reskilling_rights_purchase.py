"""ReskillingRights: buying rights with a JPYC permit, in batches, and minting rights paid off chain."""

from __future__ import annotations

from eth_utils import keccak

from tests.contracts.conftest import DAY, PRICE, buy, create_program, mint_jpyc
from tests.fixtures.chain import deploy, events, next_timestamp, reverts, sign_permit, transact

ZERO = "0x0000000000000000000000000000000000000000"
REF = keccak(text="invoice:2024-06-0001")


def _permit(w3, jpyc, rights, accounts, owner, value, *, deadline=None, nonce=None):
    deadline = deadline if deadline is not None else next_timestamp(w3) + DAY
    v, r, s = sign_permit(w3, jpyc, accounts.key(owner), rights.address, value, deadline, nonce=nonce)
    return deadline, v, r, s


def test_purchase_with_permit_pays_treasury_mints_to_buyer_and_emits_events(
    w3, rights, jpyc, funded, program, relayer
):
    sponsor, treasury = funded.sponsor, funded.treasury
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, sponsor, PRICE)
    token_id = rights.functions.purchaseWithPermit(program.id, sponsor, deadline, v, r, s).call({"from": relayer})
    receipt = transact(rights.functions.purchaseWithPermit(program.id, sponsor, deadline, v, r, s), relayer)

    assert token_id == 1
    assert rights.functions.ownerOf(1).call() == sponsor
    assert rights.functions.programOf(1).call() == program.id
    assert rights.functions.rightStatus(1).call() == 0  # Unused
    assert jpyc.functions.balanceOf(treasury).call() == PRICE
    assert jpyc.functions.balanceOf(sponsor).call() == 9 * PRICE
    assert jpyc.functions.balanceOf(rights.address).call() == 0
    assert jpyc.functions.allowance(sponsor, rights.address).call() == 0
    assert jpyc.functions.nonces(sponsor).call() == 1
    assert rights.functions.program(program.id).call()[2] == 1  # minted
    assert events(rights, "RightPurchased", receipt) == [
        {"tokenId": 1, "programId": program.id, "buyer": sponsor, "price": PRICE}
    ]
    assert events(rights, "Transfer", receipt) == [{"from": ZERO, "to": sponsor, "tokenId": 1}]
    assert events(jpyc, "Transfer", receipt) == [{"from": sponsor, "to": treasury, "value": PRICE}]


def test_token_ids_are_sequential_across_programs(w3, rights, jpyc, funded, program, relayer):
    second = create_program(rights, funded, 2, price=PRICE)
    assert buy(w3, rights, jpyc, funded, program, relayer=relayer) == 1
    assert buy(w3, rights, jpyc, funded, second, relayer=relayer) == 2
    assert buy(w3, rights, jpyc, funded, program, funded.other, relayer=relayer) == 3
    assert rights.functions.balanceOf(funded.sponsor).call() == 2
    assert rights.functions.ownerOf(3).call() == funded.other


def test_purchase_succeeds_when_the_permit_was_front_run(w3, rights, jpyc, funded, program, relayer):
    sponsor = funded.sponsor
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, sponsor, PRICE)
    # Someone submits the permit first: the nonce is used, so the permit call inside purchase reverts.
    transact(jpyc.functions.permit(sponsor, rights.address, PRICE, deadline, v, r, s), funded.other)
    assert jpyc.functions.allowance(sponsor, rights.address).call() == PRICE

    receipt = transact(rights.functions.purchaseWithPermit(program.id, sponsor, deadline, v, r, s), relayer)

    assert rights.functions.ownerOf(1).call() == sponsor
    assert jpyc.functions.balanceOf(funded.treasury).call() == PRICE
    assert jpyc.functions.allowance(sponsor, rights.address).call() == 0
    assert events(rights, "RightPurchased", receipt)[0]["buyer"] == sponsor


def test_purchase_with_used_permit_and_no_allowance_reverts(w3, rights, jpyc, funded, program, relayer):
    sponsor = funded.sponsor
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, sponsor, PRICE)
    transact(rights.functions.purchaseWithPermit(program.id, sponsor, deadline, v, r, s), relayer)
    with reverts("ReskillingRightsInsufficientAllowance", sponsor, 0, PRICE):
        rights.functions.purchaseWithPermit(program.id, sponsor, deadline, v, r, s).transact({"from": relayer})
    assert rights.functions.balanceOf(sponsor).call() == 1


def test_purchase_with_invalid_permit_and_too_small_allowance_reverts(w3, rights, jpyc, funded, program, relayer):
    sponsor = funded.sponsor
    transact(jpyc.functions.approve(rights.address, PRICE - 1), sponsor)
    with reverts("ReskillingRightsInsufficientAllowance", sponsor, PRICE - 1, PRICE):
        rights.functions.purchaseWithPermit(program.id, sponsor, 0, 27, b"\x00" * 32, b"\x00" * 32).transact(
            {"from": relayer}
        )


def test_purchase_without_permit_uses_an_existing_allowance(w3, rights, jpyc, funded, program, relayer):
    sponsor = funded.sponsor
    transact(jpyc.functions.approve(rights.address, 2 * PRICE), sponsor)
    transact(
        rights.functions.purchaseWithPermit(program.id, sponsor, 0, 0, b"\x00" * 32, b"\x00" * 32), relayer
    )
    assert rights.functions.ownerOf(1).call() == sponsor
    assert jpyc.functions.allowance(sponsor, rights.address).call() == PRICE


def test_permit_for_an_old_price_is_refused_after_a_price_change(w3, rights, jpyc, funded, program, relayer):
    sponsor = funded.sponsor
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, sponsor, PRICE)
    transact(rights.functions.setProgramPrice(program.id, PRICE + 1), funded.operator)
    with reverts("ReskillingRightsInsufficientAllowance", sponsor, 0, PRICE + 1):
        rights.functions.purchaseWithPermit(program.id, sponsor, deadline, v, r, s).transact({"from": relayer})


def test_purchase_with_expired_permit_reverts(w3, rights, jpyc, funded, program, relayer):
    sponsor = funded.sponsor
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, sponsor, PRICE, deadline=next_timestamp(w3) - 1)
    with reverts("ReskillingRightsInsufficientAllowance", sponsor, 0, PRICE):
        rights.functions.purchaseWithPermit(program.id, sponsor, deadline, v, r, s).transact({"from": relayer})


def test_permit_signed_by_someone_else_does_not_spend_the_buyer(w3, rights, jpyc, funded, program, relayer):
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, funded.other, PRICE)
    with reverts("ReskillingRightsInsufficientAllowance", funded.sponsor, 0, PRICE):
        rights.functions.purchaseWithPermit(program.id, funded.sponsor, deadline, v, r, s).transact(
            {"from": relayer}
        )


def test_purchase_reverts_when_buyer_lacks_funds(w3, rights, jpyc, accounts, program, relayer):
    poor = accounts.talent
    mint_jpyc(jpyc, accounts, poor, PRICE - 1)
    deadline, v, r, s = _permit(w3, jpyc, rights, accounts, poor, PRICE)
    with reverts("ERC20InsufficientBalance", poor, PRICE - 1, PRICE):
        rights.functions.purchaseWithPermit(program.id, poor, deadline, v, r, s).transact({"from": relayer})


def test_purchase_of_unknown_program_reverts(w3, rights, jpyc, funded, relayer):
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, funded.sponsor, PRICE)
    with reverts("ReskillingRightsUnknownProgram", 7):
        rights.functions.purchaseWithPermit(7, funded.sponsor, deadline, v, r, s).transact({"from": relayer})


def test_purchase_beyond_supply_cap_reverts(w3, rights, jpyc, funded, relayer):
    program = create_program(rights, funded, 3, supply_cap=2)
    buy(w3, rights, jpyc, funded, program, relayer=relayer)
    buy(w3, rights, jpyc, funded, program, relayer=relayer)
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, funded.sponsor, PRICE)
    with reverts("ReskillingRightsSoldOut", 3, 1):
        rights.functions.purchaseWithPermit(3, funded.sponsor, deadline, v, r, s).transact({"from": relayer})
    # Raising the cap reopens sales.
    transact(rights.functions.setProgramSupplyCap(3, 3), funded.operator)
    transact(rights.functions.purchaseWithPermit(3, funded.sponsor, deadline, v, r, s), relayer)
    assert rights.functions.program(3).call()[2] == 3


def test_free_program_mints_without_payment(w3, rights, jpyc, accounts, relayer):
    create_program(rights, accounts, 4, price=0)
    receipt = transact(
        rights.functions.purchaseWithPermit(4, accounts.talent, 0, 0, b"\x00" * 32, b"\x00" * 32), relayer
    )
    assert rights.functions.ownerOf(1).call() == accounts.talent
    assert events(jpyc, "Transfer", receipt) == []
    assert events(rights, "RightPurchased", receipt)[0]["price"] == 0


def test_purchase_to_a_contract_that_cannot_receive_nfts_reverts(w3, rights, jpyc, accounts, deployment, relayer):
    create_program(rights, accounts, 4, price=0)
    with reverts("ERC721InvalidReceiver", deployment.anchor):
        rights.functions.purchaseWithPermit(4, deployment.anchor, 0, 0, b"\x00" * 32, b"\x00" * 32).transact(
            {"from": relayer}
        )


def test_smart_wallet_buys_with_an_approval_instead_of_a_permit(w3, rights, jpyc, accounts, program, relayer):
    wallet = deploy(w3, "TestSmartWallet", accounts.sponsor, sender=accounts.sponsor)
    mint_jpyc(jpyc, accounts, wallet.address, PRICE)
    approve = jpyc.encode_abi("approve", [rights.address, PRICE])
    transact(wallet.functions.execute(jpyc.address, approve), accounts.sponsor)
    transact(
        rights.functions.purchaseWithPermit(program.id, wallet.address, 0, 0, b"\x00" * 32, b"\x00" * 32), relayer
    )
    assert rights.functions.ownerOf(1).call() == wallet.address
    assert jpyc.functions.balanceOf(accounts.treasury).call() == PRICE


def test_batch_purchase_uses_one_permit_for_quantity_times_price(w3, rights, jpyc, funded, program, relayer):
    sponsor = funded.sponsor
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, sponsor, 3 * PRICE)
    first = rights.functions.purchaseBatchWithPermit(program.id, sponsor, 3, deadline, v, r, s).call(
        {"from": relayer}
    )
    receipt = transact(rights.functions.purchaseBatchWithPermit(program.id, sponsor, 3, deadline, v, r, s), relayer)

    assert first == 1
    assert [rights.functions.ownerOf(i).call() for i in (1, 2, 3)] == [sponsor] * 3
    assert rights.functions.program(program.id).call()[2] == 3
    assert jpyc.functions.balanceOf(funded.treasury).call() == 3 * PRICE
    assert events(rights, "RightPurchased", receipt) == [
        {"tokenId": i, "programId": program.id, "buyer": sponsor, "price": PRICE} for i in (1, 2, 3)
    ]
    assert events(jpyc, "Transfer", receipt) == [{"from": sponsor, "to": funded.treasury, "value": 3 * PRICE}]


def test_batch_purchase_after_single_purchase_returns_next_id(w3, rights, jpyc, funded, program, relayer):
    buy(w3, rights, jpyc, funded, program, relayer=relayer)
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, funded.other, 2 * PRICE)
    receipt = transact(
        rights.functions.purchaseBatchWithPermit(program.id, funded.other, 2, deadline, v, r, s), relayer
    )
    assert [e["tokenId"] for e in events(rights, "RightPurchased", receipt)] == [2, 3]


def test_batch_purchase_rejects_zero_quantity(w3, rights, jpyc, funded, program, relayer):
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, funded.sponsor, 0)
    with reverts("ReskillingRightsInvalidQuantity", 0):
        rights.functions.purchaseBatchWithPermit(program.id, funded.sponsor, 0, deadline, v, r, s).transact(
            {"from": relayer}
        )


def test_batch_purchase_beyond_supply_cap_reverts_as_a_whole(w3, rights, jpyc, funded, program, relayer):
    buy(w3, rights, jpyc, funded, program, relayer=relayer)
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, funded.sponsor, 5 * PRICE)
    with reverts("ReskillingRightsSoldOut", program.id, 5):
        rights.functions.purchaseBatchWithPermit(program.id, funded.sponsor, 5, deadline, v, r, s).transact(
            {"from": relayer}
        )
    assert rights.functions.program(program.id).call()[2] == 1


def test_batch_purchase_with_permit_for_a_single_price_reverts(w3, rights, jpyc, funded, program, relayer):
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, funded.sponsor, PRICE)
    with reverts("ReskillingRightsInsufficientAllowance", funded.sponsor, 0, 2 * PRICE):
        rights.functions.purchaseBatchWithPermit(program.id, funded.sponsor, 2, deadline, v, r, s).transact(
            {"from": relayer}
        )


def test_batch_purchase_of_unknown_program_reverts(w3, rights, jpyc, funded, relayer):
    deadline, v, r, s = _permit(w3, jpyc, rights, funded, funded.sponsor, PRICE)
    with reverts("ReskillingRightsUnknownProgram", 8):
        rights.functions.purchaseBatchWithPermit(8, funded.sponsor, 1, deadline, v, r, s).transact(
            {"from": relayer}
        )


def test_mint_paid_off_chain_mints_and_records_the_payment_hash(rights, jpyc, accounts, program):
    token_id = rights.functions.mintPaidOffChain(program.id, accounts.sponsor, REF).call({"from": accounts.operator})
    receipt = transact(rights.functions.mintPaidOffChain(program.id, accounts.sponsor, REF), accounts.operator)
    assert token_id == 1
    assert rights.functions.ownerOf(1).call() == accounts.sponsor
    assert rights.functions.programOf(1).call() == program.id
    assert rights.functions.program(program.id).call()[2] == 1
    assert events(rights, "RightMintedOffChain", receipt) == [
        {"tokenId": 1, "programId": program.id, "to": accounts.sponsor, "paymentRefHash": REF}
    ]
    assert events(rights, "Transfer", receipt) == [{"from": ZERO, "to": accounts.sponsor, "tokenId": 1}]
    assert events(jpyc, "Transfer", receipt) == []


def test_mint_paid_off_chain_rejects_a_reused_payment_ref(rights, accounts, program):
    transact(rights.functions.mintPaidOffChain(program.id, accounts.sponsor, REF), accounts.operator)
    with reverts("ReskillingRightsPaymentRefUsed", REF):
        rights.functions.mintPaidOffChain(program.id, accounts.other, REF).transact({"from": accounts.operator})
    assert rights.functions.program(program.id).call()[2] == 1


def test_mint_paid_off_chain_rejects_zero_payment_ref(rights, accounts, program):
    with reverts("ReskillingRightsInvalidPaymentRef"):
        rights.functions.mintPaidOffChain(program.id, accounts.sponsor, b"\x00" * 32).transact(
            {"from": accounts.operator}
        )


def test_mint_paid_off_chain_requires_operator_role(rights, accounts, program):
    role = rights.functions.OPERATOR_ROLE().call()
    with reverts("AccessControlUnauthorizedAccount", accounts.sponsor, role):
        rights.functions.mintPaidOffChain(program.id, accounts.sponsor, REF).transact({"from": accounts.sponsor})


def test_mint_paid_off_chain_respects_supply_cap_and_program(rights, accounts):
    create_program(rights, accounts, 5, supply_cap=1)
    transact(rights.functions.mintPaidOffChain(5, accounts.sponsor, REF), accounts.operator)
    with reverts("ReskillingRightsSoldOut", 5, 1):
        rights.functions.mintPaidOffChain(5, accounts.sponsor, keccak(text="other")).transact(
            {"from": accounts.operator}
        )
    with reverts("ReskillingRightsUnknownProgram", 6):
        rights.functions.mintPaidOffChain(6, accounts.sponsor, keccak(text="other")).transact(
            {"from": accounts.operator}
        )


def test_mint_paid_off_chain_rejects_invalid_receivers(rights, accounts, deployment, program):
    with reverts("ERC721InvalidReceiver", ZERO):
        rights.functions.mintPaidOffChain(program.id, ZERO, REF).transact({"from": accounts.operator})
    with reverts("ERC721InvalidReceiver", deployment.distributor):
        rights.functions.mintPaidOffChain(program.id, deployment.distributor, REF).transact(
            {"from": accounts.operator}
        )
