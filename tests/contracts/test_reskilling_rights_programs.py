"""ReskillingRights: construction, metadata, interfaces and program administration."""

from __future__ import annotations

from eth_utils import function_signature_to_4byte_selector, keccak

from tests.contracts.conftest import MAX_LENDING, PRICE, PROGRAM_ID, SUPPLY_CAP, create_program
from manabi.deploy import load_artifact
from tests.fixtures.chain import events, reverts, transact

ZERO = "0x0000000000000000000000000000000000000000"


def _program(rights, program_id):
    return rights.functions.program(program_id).call()


def test_constructor_sets_collection_roles_and_payment_token(rights, jpyc, accounts):
    assert rights.functions.name().call() == "Manabi Relay Reskilling Rights"
    assert rights.functions.symbol().call() == "MRR"
    assert rights.functions.paymentToken().call() == jpyc.address
    assert rights.functions.OPERATOR_ROLE().call() == keccak(text="OPERATOR_ROLE")
    admin_role = rights.functions.DEFAULT_ADMIN_ROLE().call()
    assert rights.functions.hasRole(admin_role, accounts.deployer).call()
    assert rights.functions.hasRole(rights.functions.OPERATOR_ROLE().call(), accounts.operator).call()
    assert not rights.functions.hasRole(admin_role, accounts.operator).call()


def test_constructor_rejects_zero_payment_token(w3, accounts):
    artifact = load_artifact("ReskillingRights")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    with reverts("ReskillingRightsInvalidPaymentToken", ZERO):
        factory.constructor(accounts.deployer, ZERO).transact({"from": accounts.deployer})


def test_supports_erc4907_erc721_access_control_and_erc165(rights):
    supports = rights.functions.supportsInterface
    assert supports(bytes.fromhex("ad092b5c")).call()  # ERC-4907
    assert supports(bytes.fromhex("80ac58cd")).call()  # ERC-721
    assert supports(bytes.fromhex("5b5e139f")).call()  # ERC-721 metadata
    assert supports(bytes.fromhex("7965db0b")).call()  # AccessControl
    assert supports(bytes.fromhex("01ffc9a7")).call()  # ERC-165
    assert not supports(bytes.fromhex("ffffffff")).call()
    assert not supports(bytes.fromhex("780e9d63")).call()  # ERC-721 enumerable: not implemented


def test_erc4907_interface_id_matches_the_functions_we_expose(rights):
    selectors = [
        function_signature_to_4byte_selector(sig)
        for sig in ("setUser(uint256,address,uint64)", "userOf(uint256)", "userExpires(uint256)")
    ]
    interface_id = bytes(a ^ b ^ c for a, b, c in zip(*selectors))
    assert interface_id == bytes.fromhex("ad092b5c")
    abi_functions = {f["name"] for f in rights.abi if f["type"] == "function"}
    assert {"setUser", "userOf", "userExpires"} <= abi_functions


def test_create_program_stores_program_and_emits_event(rights, accounts):
    receipt = transact(
        rights.functions.createProgram(PROGRAM_ID, PRICE, SUPPLY_CAP, accounts.treasury, MAX_LENDING),
        accounts.operator,
    )
    assert events(rights, "ProgramCreated", receipt) == [
        {
            "programId": PROGRAM_ID,
            "price": PRICE,
            "supplyCap": SUPPLY_CAP,
            "treasury": accounts.treasury,
            "maxLendingPeriod": MAX_LENDING,
        }
    ]
    assert _program(rights, PROGRAM_ID) == (PRICE, SUPPLY_CAP, 0, accounts.treasury, MAX_LENDING, False, True)


def test_program_of_unknown_id_is_all_zero_and_not_existing(rights):
    assert _program(rights, 42) == (0, 0, 0, ZERO, 0, False, False)


def test_program_id_zero_and_price_zero_are_allowed(rights, accounts):
    create_program(rights, accounts, 0, price=0)
    assert _program(rights, 0)[0] == 0
    assert _program(rights, 0)[-1] is True


def test_create_program_rejects_existing_program(rights, accounts, program):
    with reverts("ReskillingRightsProgramExists", program.id):
        rights.functions.createProgram(program.id, 1, 1, accounts.treasury, 1).transact({"from": accounts.operator})


def test_create_program_rejects_ids_beyond_32_bits(rights, accounts):
    create_program(rights, accounts, 2**32 - 1)
    with reverts("ReskillingRightsInvalidProgramId", 2**32):
        rights.functions.createProgram(2**32, PRICE, 1, accounts.treasury, MAX_LENDING).transact(
            {"from": accounts.operator}
        )


def test_create_program_rejects_zero_treasury(rights, accounts):
    with reverts("ReskillingRightsInvalidTreasury", ZERO):
        rights.functions.createProgram(1, PRICE, 1, ZERO, MAX_LENDING).transact({"from": accounts.operator})


def test_create_program_rejects_zero_supply_cap(rights, accounts):
    with reverts("ReskillingRightsInvalidSupplyCap", 0, 0):
        rights.functions.createProgram(1, PRICE, 0, accounts.treasury, MAX_LENDING).transact(
            {"from": accounts.operator}
        )


def test_create_program_rejects_zero_lending_period(rights, accounts):
    with reverts("ReskillingRightsInvalidLendingPeriod", 0):
        rights.functions.createProgram(1, PRICE, 1, accounts.treasury, 0).transact({"from": accounts.operator})


def test_create_program_requires_operator_role_even_for_admin(rights, accounts):
    role = rights.functions.OPERATOR_ROLE().call()
    with reverts("AccessControlUnauthorizedAccount", accounts.deployer, role):
        rights.functions.createProgram(1, PRICE, 1, accounts.treasury, 1).transact({"from": accounts.deployer})


def test_set_program_price_updates_price_and_emits_event(rights, accounts, program):
    receipt = transact(rights.functions.setProgramPrice(program.id, 60_000), accounts.operator)
    assert events(rights, "ProgramPriceChanged", receipt) == [{"programId": program.id, "price": 60_000}]
    assert _program(rights, program.id)[0] == 60_000


def test_set_program_price_rejects_unknown_program_and_non_operator(rights, accounts, program):
    with reverts("ReskillingRightsUnknownProgram", 9):
        rights.functions.setProgramPrice(9, 1).transact({"from": accounts.operator})
    role = rights.functions.OPERATOR_ROLE().call()
    with reverts("AccessControlUnauthorizedAccount", accounts.sponsor, role):
        rights.functions.setProgramPrice(program.id, 1).transact({"from": accounts.sponsor})


def test_set_program_supply_cap_updates_cap_and_emits_event(rights, accounts, program):
    receipt = transact(rights.functions.setProgramSupplyCap(program.id, 36), accounts.operator)
    assert events(rights, "ProgramSupplyCapChanged", receipt) == [{"programId": program.id, "supplyCap": 36}]
    assert _program(rights, program.id)[1] == 36


def test_set_program_supply_cap_can_close_sales_at_minted_but_not_below(rights, accounts, program, token_id):
    transact(rights.functions.setProgramSupplyCap(program.id, 1), accounts.operator)
    assert _program(rights, program.id)[1:3] == (1, 1)
    with reverts("ReskillingRightsInvalidSupplyCap", 0, 1):
        rights.functions.setProgramSupplyCap(program.id, 0).transact({"from": accounts.operator})


def test_set_program_supply_cap_rejects_zero_unknown_program_and_non_operator(rights, accounts, program):
    with reverts("ReskillingRightsInvalidSupplyCap", 0, 0):
        rights.functions.setProgramSupplyCap(program.id, 0).transact({"from": accounts.operator})
    with reverts("ReskillingRightsUnknownProgram", 9):
        rights.functions.setProgramSupplyCap(9, 3).transact({"from": accounts.operator})
    role = rights.functions.OPERATOR_ROLE().call()
    with reverts("AccessControlUnauthorizedAccount", accounts.other, role):
        rights.functions.setProgramSupplyCap(program.id, 3).transact({"from": accounts.other})


def test_set_transfers_locked_toggles_flag_and_emits_event(rights, accounts, program):
    receipt = transact(rights.functions.setTransfersLocked(program.id, True), accounts.operator)
    assert events(rights, "ProgramTransfersLockChanged", receipt) == [{"programId": program.id, "locked": True}]
    assert _program(rights, program.id)[5] is True
    receipt = transact(rights.functions.setTransfersLocked(program.id, False), accounts.operator)
    assert events(rights, "ProgramTransfersLockChanged", receipt) == [{"programId": program.id, "locked": False}]
    assert _program(rights, program.id)[5] is False


def test_set_transfers_locked_rejects_unknown_program_and_non_operator(rights, accounts, program):
    with reverts("ReskillingRightsUnknownProgram", 9):
        rights.functions.setTransfersLocked(9, True).transact({"from": accounts.operator})
    role = rights.functions.OPERATOR_ROLE().call()
    with reverts("AccessControlUnauthorizedAccount", accounts.sponsor, role):
        rights.functions.setTransfersLocked(program.id, True).transact({"from": accounts.sponsor})


def test_eip712_domain_and_lend_typehash(w3, rights):
    fields, name, version, chain_id, contract, salt, extensions = rights.functions.eip712Domain().call()
    assert (fields, name, version) == (b"\x0f", "ReskillingRights", "1")
    assert (chain_id, contract) == (w3.eth.chain_id, rights.address)
    assert (salt, extensions) == (b"\x00" * 32, [])
    assert rights.functions.LEND_TYPEHASH().call() == keccak(
        text="Lend(uint256 tokenId,address user,uint64 expires,uint256 nonce,uint256 deadline)"
    )
    from eth_abi import encode

    domain_typehash = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [domain_typehash, keccak(text="ReskillingRights"), keccak(text="1"), w3.eth.chain_id, rights.address],
        )
    )
    assert rights.functions.DOMAIN_SEPARATOR().call() == expected


def test_token_views_revert_for_nonexistent_token(rights, program):
    for view in ("programOf", "isConsumed", "rightStatus", "userOf", "userExpires", "ownerOf"):
        with reverts("ERC721NonexistentToken", 99):
            rights.functions[view](99).call()


def test_program_of_returns_the_tokens_program(rights, funded, token_id, program):
    assert rights.functions.programOf(token_id).call() == program.id
    other = create_program(rights, funded, 2, price=1)
    transact(
        rights.functions.mintPaidOffChain(other.id, funded.talent, keccak(text="invoice-2")), funded.operator
    )
    assert rights.functions.programOf(token_id + 1).call() == 2


def test_admin_can_grant_and_revoke_operator_role(rights, accounts, program):
    role = rights.functions.OPERATOR_ROLE().call()
    transact(rights.functions.grantRole(role, accounts.other), accounts.deployer)
    transact(rights.functions.setProgramPrice(program.id, 1), accounts.other)
    transact(rights.functions.revokeRole(role, accounts.other), accounts.deployer)
    with reverts("AccessControlUnauthorizedAccount", accounts.other, role):
        rights.functions.setProgramPrice(program.id, 2).transact({"from": accounts.other})

