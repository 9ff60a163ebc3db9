"""Gas table for the Manabi Relay contracts on py-evm (OpenZeppelin TestJPYC as the token).

Run: ``.venv/bin/python bench/gas.py``. Exits 1 if a payout target is missed:
``distribute`` to 100 recipients must cost at most 28k gas per new holder and
11k per existing holder (``gasUsed / recipients``, whole transaction included).

Real JPYC (a FiatToken proxy with blocklist checks) costs about 20k more per
transfer than the OpenZeppelin ERC-20 measured here: budget roughly +20k per
recipient for mainnet payouts (measured on py-evm with JPYC's published code).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manabi.deploy import deploy_contracts, load_artifact  # noqa: E402

if TYPE_CHECKING:
    from web3 import Web3
    from web3.contract import Contract

JPYC = 10**18
PRICE = 55_000 * JPYC
DAY = 86_400
TARGET_NEW = 28_000
TARGET_EXISTING = 11_000
BATCH_SIZES = (1, 10, 100)


@dataclass
class Row:
    action: str
    gas: int
    per_recipient: int | None = None
    separate: int | None = None

    def render(self) -> str:
        per = f"{self.per_recipient:>12,}" if self.per_recipient is not None else ""
        sep = f"{self.separate:>13,}" if self.separate is not None else ""
        ratio = f"{self.gas / self.separate:>7.2f}" if self.separate else ""
        return f"{self.action:<44}{self.gas:>11,}{per}{sep}{ratio}"


def _send(w3: Web3, call: Any, sender: str) -> int:
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "gas": 10_000_000}))
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction failed: {call}")
    return receipt["gasUsed"]


def _contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def _sign(key: bytes, domain: dict[str, Any], primary: str, fields: list[tuple[str, str]], message: dict) -> Any:
    from eth_account import Account

    return Account.sign_typed_data(
        key,
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                primary: [{"name": n, "type": t} for n, t in fields],
            },
            "primaryType": primary,
            "domain": domain,
            "message": message,
        },
    )


def _recipients(w3: Web3, salt: str, count: int) -> list[str]:
    return [w3.to_checksum_address(w3.keccak(text=f"{salt}-{i}")[-20:]) for i in range(count)]


def measure() -> tuple[list[Row], dict[str, int]]:
    from eth_account import Account
    from web3 import EthereumTesterProvider, Web3

    w3 = Web3(EthereumTesterProvider())
    tester = w3.provider.ethereum_tester
    deployer, operator, treasury, sponsor, talent, other = w3.eth.accounts[:6]
    keys = {Account.from_key(k.to_bytes()).address: k.to_bytes() for k in tester.backend.account_keys}
    d = deploy_contracts(w3, deployer=deployer, operator=operator, treasury=treasury)
    jpyc = _contract(w3, "TestJPYC", d.jpyc)
    rights = _contract(w3, "ReskillingRights", d.rights)
    distributor = _contract(w3, "PayoutDistributor", d.distributor)
    chain_id = w3.eth.chain_id
    now = w3.eth.get_block("pending")["timestamp"]

    _send(w3, rights.functions.createProgram(1, PRICE, 100, treasury, 180 * DAY), operator)
    for buyer in (sponsor, other):
        _send(w3, jpyc.functions.mint(buyer, 10 * PRICE), deployer)

    rows: list[Row] = []
    jpyc_domain = {"name": "JPY Coin", "version": "1", "chainId": chain_id, "verifyingContract": jpyc.address}
    permit_fields = [
        ("owner", "address"),
        ("spender", "address"),
        ("value", "uint256"),
        ("nonce", "uint256"),
        ("deadline", "uint256"),
    ]

    def purchase(buyer: str) -> int:
        nonce = jpyc.functions.nonces(buyer).call()
        message = {"owner": buyer, "spender": rights.address, "value": PRICE, "nonce": nonce, "deadline": now + DAY}
        sig = _sign(keys[buyer], jpyc_domain, "Permit", permit_fields, message)
        call = rights.functions.purchaseWithPermit(
            1, buyer, now + DAY, sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")
        )
        return _send(w3, call, other)

    rows.append(Row("purchaseWithPermit (first right ever)", purchase(sponsor)))
    rows.append(Row("purchaseWithPermit (buyer's first right)", purchase(other)))
    rows.append(Row("purchaseWithPermit (subsequent)", purchase(sponsor)))

    rights_domain = {
        "name": "ReskillingRights",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": rights.address,
    }
    lend_fields = [
        ("tokenId", "uint256"),
        ("user", "address"),
        ("expires", "uint64"),
        ("nonce", "uint256"),
        ("deadline", "uint256"),
    ]
    lend = {"tokenId": 1, "user": talent, "expires": now + 30 * DAY, "nonce": 0, "deadline": now + DAY}
    sig = _sign(keys[sponsor], rights_domain, "Lend", lend_fields, lend)
    rows.append(
        Row(
            "lendWithSig",
            _send(w3, rights.functions.lendWithSig(1, talent, lend["expires"], lend["deadline"], sig.signature), other),
        )
    )

    # ERC-20 baselines and payouts, from a treasury holding plenty of JPYC.
    _send(w3, jpyc.functions.mint(treasury, 10**9 * JPYC), deployer)
    _send(w3, jpyc.functions.approve(distributor.address, 2**256 - 1), treasury)
    existing = _recipients(w3, "existing", max(BATCH_SIZES))
    for holder in existing:  # existing holders already have a non-zero balance
        _send(w3, jpyc.functions.mint(holder, 1), deployer)
    single_new = _send(w3, jpyc.functions.transfer(_recipients(w3, "single", 1)[0], 1_000 * JPYC), treasury)
    single_existing = _send(w3, jpyc.functions.transfer(existing[0], 1_000 * JPYC), treasury)
    rows.append(Row("JPYC transfer (new holder)", single_new))
    rows.append(Row("JPYC transfer (existing holder)", single_existing))

    per_recipient: dict[str, int] = {}
    batch = 0
    for kind in ("new", "existing"):
        for size in BATCH_SIZES:
            batch += 1
            recipients = _recipients(w3, f"new-{size}", size) if kind == "new" else existing[:size]
            amounts = [1_000 * JPYC + i for i in range(size)]
            snapshot = tester.take_snapshot()
            separate = sum(_send(w3, jpyc.functions.transfer(r, a), treasury) for r, a in zip(recipients, amounts))
            tester.revert_to_snapshot(snapshot)
            batch_id = w3.keccak(text=f"bench-{batch}")
            gas = _send(w3, distributor.functions.distribute(batch_id, jpyc.address, recipients, amounts), operator)
            tester.revert_to_snapshot(snapshot)  # keep "new" holders new for the next size
            rows.append(Row(f"distribute, {size} {kind} holder(s)", gas, gas // size, separate))
            per_recipient[f"{kind}-{size}"] = gas // size
    return rows, per_recipient


def main() -> int:
    rows, per_recipient = measure()
    print(f"{'action':<44}{'gas':>11}{'gas/recip.':>12}{'separate tx':>13}{'ratio':>7}")
    print("-" * 87)
    for row in rows:
        print(row.render())
    print()
    print("separate tx: the same payouts as individual ERC-20 transfer transactions (sum of gasUsed).")
    print("Real JPYC costs about +20k gas per transfer (FiatToken proxy + blocklist); budget for it.")
    print()
    ok = True
    for kind, target in (("new", TARGET_NEW), ("existing", TARGET_EXISTING)):
        value = per_recipient[f"{kind}-100"]
        passed = value <= target
        ok &= passed
        verdict = "PASS" if passed else "FAIL"
        print(f"{verdict}: distribute 100 {kind} holders: {value:,} gas/recipient (target <= {target:,})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
