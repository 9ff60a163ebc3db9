"""Factories and fixtures for the contract tests (on top of ``tests.fixtures.chain``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.fixtures.chain import JPYC, ChainAccounts, events, next_timestamp, sign_permit, transact

if TYPE_CHECKING:
    from web3 import Web3
    from web3.contract import Contract

DAY = 24 * 60 * 60
PRICE = 55_000 * JPYC
SUPPLY_CAP = 5
MAX_LENDING = 180 * DAY
PROGRAM_ID = 1


@dataclass(frozen=True)
class Program:
    """A program created on chain by :func:`create_program`."""

    id: int
    price: int
    supply_cap: int
    treasury: str
    max_lending: int


def create_program(
    rights: Contract,
    accounts: ChainAccounts,
    program_id: int = PROGRAM_ID,
    *,
    price: int = PRICE,
    supply_cap: int = SUPPLY_CAP,
    max_lending: int = MAX_LENDING,
) -> Program:
    """Create a program as the operator, paid to the treasury account."""
    transact(
        rights.functions.createProgram(program_id, price, supply_cap, accounts.treasury, max_lending),
        accounts.operator,
    )
    return Program(program_id, price, supply_cap, accounts.treasury, max_lending)


def mint_jpyc(jpyc: Contract, accounts: ChainAccounts, to: str, amount: int) -> None:
    """Mint TestJPYC to ``to`` (the deployer owns TestJPYC)."""
    transact(jpyc.functions.mint(to, amount), accounts.deployer)


def buy(
    w3: Web3,
    rights: Contract,
    jpyc: Contract,
    accounts: ChainAccounts,
    program: Program,
    buyer: str | None = None,
    *,
    relayer: str | None = None,
) -> int:
    """Buy one right with a fresh permit (the buyer must hold the price); return the token id."""
    buyer = buyer or accounts.sponsor
    deadline = next_timestamp(w3) + DAY
    v, r, s = sign_permit(w3, jpyc, accounts.key(buyer), rights.address, program.price, deadline)
    receipt = transact(
        rights.functions.purchaseWithPermit(program.id, buyer, deadline, v, r, s), relayer or accounts.other
    )
    return events(rights, "RightPurchased", receipt)[0]["tokenId"]


def lend(
    w3: Web3, rights: Contract, accounts: ChainAccounts, token_id: int, *, user: str | None = None, days: int = 30
) -> int:
    """Lend ``token_id`` from its owner to ``user`` (default: talent) for ``days``; return the expiry."""
    expires = next_timestamp(w3) + days * DAY
    owner = rights.functions.ownerOf(token_id).call()
    transact(rights.functions.setUser(token_id, user or accounts.talent, expires), owner)
    return expires


@pytest.fixture
def relayer(accounts: ChainAccounts) -> str:
    """An account with no role that submits signed messages (anyone may)."""
    return accounts.all[6]


@pytest.fixture
def program(rights: Contract, accounts: ChainAccounts) -> Program:
    """Program 1: 55,000 JPYC, 5 seats, paid to the treasury, lendable for 180 days."""
    return create_program(rights, accounts)


@pytest.fixture
def funded(jpyc: Contract, accounts: ChainAccounts) -> ChainAccounts:
    """Accounts with the sponsor and ``other`` holding 10 rights' worth of JPYC each."""
    mint_jpyc(jpyc, accounts, accounts.sponsor, 10 * PRICE)
    mint_jpyc(jpyc, accounts, accounts.other, 10 * PRICE)
    return accounts


@pytest.fixture
def token_id(w3: Web3, rights: Contract, jpyc: Contract, funded: ChainAccounts, program: Program, relayer: str) -> int:
    """Right #1 of program 1, bought by the sponsor, unused."""
    return buy(w3, rights, jpyc, funded, program, relayer=relayer)
