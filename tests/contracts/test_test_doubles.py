"""Test doubles: TestJPYC (metadata, owner-only mint, EIP-2612 permit, ERC-3009) and TestSmartWallet."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak

from tests.fixtures.chain import (
    JPYC,
    deploy,
    events,
    next_timestamp,
    reverts,
    sign_permit,
    sign_transfer_authorization,
    transact,
)

NONCE = keccak(text="authorization-1")


def _funded(jpyc, accounts, amount=100 * JPYC):
    transact(jpyc.functions.mint(accounts.sponsor, amount), accounts.deployer)


def test_metadata_matches_real_jpyc(w3, jpyc, accounts):
    assert jpyc.functions.name().call() == "JPY Coin"
    assert jpyc.functions.symbol().call() == "JPYC"
    assert jpyc.functions.decimals().call() == 18
    assert jpyc.functions.owner().call() == accounts.deployer
    _, name, version, chain_id, contract, _, _ = jpyc.functions.eip712Domain().call()
    assert (name, version, chain_id, contract) == ("JPY Coin", "1", w3.eth.chain_id, jpyc.address)


def test_permit_domain_built_from_name_and_version_matches_domain_separator(w3, jpyc):
    # Real JPYC has no DOMAIN_SEPARATOR(): clients build the domain from name(), "1", chain id and address.
    domain_typehash = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    built = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                domain_typehash,
                keccak(text=jpyc.functions.name().call()),
                keccak(text="1"),
                w3.eth.chain_id,
                jpyc.address,
            ],
        )
    )
    assert jpyc.functions.DOMAIN_SEPARATOR().call() == built


def test_mint_is_owner_only_and_emits_transfer(jpyc, accounts):
    receipt = transact(jpyc.functions.mint(accounts.sponsor, 5 * JPYC), accounts.deployer)
    assert events(jpyc, "Transfer", receipt) == [
        {"from": "0x0000000000000000000000000000000000000000", "to": accounts.sponsor, "value": 5 * JPYC}
    ]
    assert jpyc.functions.totalSupply().call() == 5 * JPYC
    with reverts("OwnableUnauthorizedAccount", accounts.operator):
        jpyc.functions.mint(accounts.operator, 1).transact({"from": accounts.operator})


def test_permit_sets_allowance_and_rejects_replay_and_expiry(w3, jpyc, accounts):
    deadline = next_timestamp(w3) + 60
    v, r, s = sign_permit(w3, jpyc, accounts.key(accounts.sponsor), accounts.other, 7, deadline)
    receipt = transact(jpyc.functions.permit(accounts.sponsor, accounts.other, 7, deadline, v, r, s), accounts.talent)
    assert events(jpyc, "Approval", receipt) == [{"owner": accounts.sponsor, "spender": accounts.other, "value": 7}]
    assert jpyc.functions.nonces(accounts.sponsor).call() == 1
    with reverts("ERC2612InvalidSigner"):
        jpyc.functions.permit(accounts.sponsor, accounts.other, 7, deadline, v, r, s).transact(
            {"from": accounts.talent}
        )
    past = next_timestamp(w3) - 1
    v, r, s = sign_permit(w3, jpyc, accounts.key(accounts.sponsor), accounts.other, 7, past)
    with reverts("ERC2612ExpiredSignature", past):
        jpyc.functions.permit(accounts.sponsor, accounts.other, 7, past, v, r, s).transact({"from": accounts.talent})


def test_transfer_with_authorization_moves_funds_once(w3, jpyc, accounts):
    _funded(jpyc, accounts)
    before = next_timestamp(w3) + 3600
    v, r, s = sign_transfer_authorization(
        w3, jpyc, accounts.key(accounts.sponsor), accounts.talent, 3 * JPYC, 0, before, NONCE
    )
    call = jpyc.functions.transferWithAuthorization(
        accounts.sponsor, accounts.talent, 3 * JPYC, 0, before, NONCE, v, r, s
    )
    receipt = transact(call, accounts.other)
    assert events(jpyc, "AuthorizationUsed", receipt) == [{"authorizer": accounts.sponsor, "nonce": NONCE}]
    assert jpyc.functions.balanceOf(accounts.talent).call() == 3 * JPYC
    assert jpyc.functions.authorizationState(accounts.sponsor, NONCE).call() is True
    with reverts("ERC3009UsedAuthorization", accounts.sponsor, NONCE):
        call.transact({"from": accounts.other})


def test_transfer_with_authorization_checks_validity_window_and_signer(w3, jpyc, accounts):
    _funded(jpyc, accounts)
    now = next_timestamp(w3)
    v, r, s = sign_transfer_authorization(w3, jpyc, accounts.key(accounts.sponsor), accounts.talent, 1, 0, now, NONCE)
    with reverts("ERC3009InvalidAuthorizationTime", 0, now):
        jpyc.functions.transferWithAuthorization(accounts.sponsor, accounts.talent, 1, 0, now, NONCE, v, r, s).transact(
            {"from": accounts.other}
        )
    v, r, s = sign_transfer_authorization(
        w3, jpyc, accounts.key(accounts.other), accounts.talent, 1, 0, now + 60, NONCE
    )
    with reverts("ERC3009InvalidSignature"):
        jpyc.functions.transferWithAuthorization(
            accounts.sponsor, accounts.talent, 1, 0, now + 60, NONCE, v, r, s
        ).transact({"from": accounts.other})


def test_receive_with_authorization_must_be_called_by_the_payee(w3, jpyc, accounts):
    _funded(jpyc, accounts)
    before = next_timestamp(w3) + 3600
    v, r, s = sign_transfer_authorization(
        w3, jpyc, accounts.key(accounts.sponsor), accounts.talent, JPYC, 0, before, NONCE,
        primary_type="ReceiveWithAuthorization",
    )
    call = jpyc.functions.receiveWithAuthorization(accounts.sponsor, accounts.talent, JPYC, 0, before, NONCE, v, r, s)
    with reverts("ERC20InvalidReceiver", accounts.talent):
        call.transact({"from": accounts.other})
    transact(call, accounts.talent)
    assert jpyc.functions.balanceOf(accounts.talent).call() == JPYC


def test_cancel_authorization_burns_the_nonce(w3, jpyc, accounts):
    from eth_account import Account

    message = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "CancelAuthorization": [{"name": "authorizer", "type": "address"}, {"name": "nonce", "type": "bytes32"}],
        },
        "primaryType": "CancelAuthorization",
        "domain": {"name": "JPY Coin", "version": "1", "chainId": w3.eth.chain_id, "verifyingContract": jpyc.address},
        "message": {"authorizer": accounts.sponsor, "nonce": NONCE},
    }
    signed = Account.sign_typed_data(accounts.key(accounts.sponsor), full_message=message)
    receipt = transact(
        jpyc.functions.cancelAuthorization(
            accounts.sponsor, NONCE, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
        ),
        accounts.other,
    )
    assert events(jpyc, "AuthorizationCanceled", receipt) == [{"authorizer": accounts.sponsor, "nonce": NONCE}]
    assert jpyc.functions.authorizationState(accounts.sponsor, NONCE).call() is True


def test_smart_wallet_validates_its_signer_and_only_executes_for_it(w3, jpyc, accounts):
    from eth_account import Account

    wallet = deploy(w3, "TestSmartWallet", accounts.sponsor, sender=accounts.deployer)
    assert wallet.functions.signer().call() == accounts.sponsor
    digest = keccak(text="message")
    good = Account.unsafe_sign_hash(digest, accounts.key(accounts.sponsor)).signature
    bad = Account.unsafe_sign_hash(digest, accounts.key(accounts.other)).signature
    assert wallet.functions.isValidSignature(digest, good).call() == bytes.fromhex("1626ba7e")
    assert wallet.functions.isValidSignature(digest, bad).call() == bytes.fromhex("ffffffff")
    assert wallet.functions.isValidSignature(digest, b"\x00" * 10).call() == bytes.fromhex("ffffffff")
    with reverts("TestSmartWalletUnauthorized", accounts.other):
        wallet.functions.execute(jpyc.address, b"").transact({"from": accounts.other})
