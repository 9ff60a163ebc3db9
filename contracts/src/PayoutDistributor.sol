// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/**
 * @dev Pays solidarity contributions (hiring rewards) out of the treasury in batches. The backend computes each
 * batch off chain (basis-point splits between sponsor, teacher, coach and treasury) and a settler submits it once:
 * a batch id can be settled only one time, so a retried submission can never pay twice.
 *
 * The treasury approves this contract on the payout token (JPYC); every payout is a `transferFrom` from the
 * treasury straight to the recipient, so this contract never holds funds and no single move is larger than one
 * payout (JPYC v2 requires an allowlisted sender above 100,000 JPYC). Pulling the batch total once and then
 * transferring was measured too: it saves only about 35 gas per recipient at 100 recipients (repeated allowance
 * writes hit a warm, already-written slot) and costs about 6k more for small batches.
 *
 * NOTE: Real JPYC (a FiatToken fork with proxy and blocklist checks) costs about 20k more gas per transfer than
 * an OpenZeppelin ERC-20; budget batch sizes with that in mind. A blocklisted recipient or a paused token makes
 * the whole batch revert, and the batch stays unsettled.
 */
contract PayoutDistributor is AccessControl {
    using SafeERC20 for IERC20;

    /// @dev Role allowed to settle payout batches.
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    address private _treasury;

    mapping(bytes32 batchId => bool) private _settled;

    /// @dev Emitted when the treasury payouts are drawn from changes.
    event TreasuryChanged(address indexed previousTreasury, address indexed newTreasury);

    /// @dev Emitted when batch `batchId` paid `total` of `token` to `count` recipients.
    event BatchSettled(bytes32 indexed batchId, address indexed token, uint256 count, uint256 total);

    /// @dev The treasury cannot be the zero address.
    error PayoutDistributorInvalidTreasury(address treasury);

    /// @dev Batch `batchId` was already settled.
    error PayoutDistributorBatchAlreadySettled(bytes32 batchId);

    /// @dev The recipients and amounts arrays have different lengths.
    error PayoutDistributorLengthMismatch(uint256 recipients, uint256 amounts);

    /// @dev A batch must pay at least one recipient.
    error PayoutDistributorEmptyBatch();

    /// @dev The recipient at `index` is the zero address.
    error PayoutDistributorInvalidRecipient(uint256 index);

    /// @dev The amount at `index` is zero.
    error PayoutDistributorInvalidAmount(uint256 index);

    /**
     * @dev Grants `DEFAULT_ADMIN_ROLE` to `admin` and sets the treasury payouts are drawn from.
     *
     * Requirements:
     *
     * - `treasury_` cannot be the zero address.
     *
     * Emits a {TreasuryChanged} event.
     */
    constructor(address admin, address treasury_) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setTreasury(treasury_);
    }

    /// @dev Returns the treasury payouts are drawn from.
    function treasury() public view virtual returns (address) {
        return _treasury;
    }

    /// @dev Returns whether batch `batchId` was settled.
    function settled(bytes32 batchId) public view virtual returns (bool) {
        return _settled[batchId];
    }

    /**
     * @dev Sets the treasury payouts are drawn from.
     *
     * Requirements:
     *
     * - the caller must have `DEFAULT_ADMIN_ROLE`.
     * - `newTreasury` cannot be the zero address.
     *
     * Emits a {TreasuryChanged} event.
     */
    function setTreasury(address newTreasury) public virtual onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(newTreasury);
    }

    /**
     * @dev Pays `amounts[i]` of `token` from the treasury to `recipients[i]`, once per `batchId`. The batch is
     * marked settled before any token call; if any payout fails the whole batch reverts and stays unsettled.
     *
     * Each payout is validated and paid in one pass (a separate validation pass costs about 350 gas per
     * recipient), so {BatchSettled} carries the total and is emitted once the payouts are done.
     *
     * Requirements:
     *
     * - the caller must have `SETTLER_ROLE`.
     * - batch `batchId` must not be settled.
     * - `recipients` and `amounts` must have the same, positive length.
     * - no recipient can be the zero address and no amount can be zero.
     * - the treasury must hold the total and have approved this contract for it.
     *
     * Emits a {BatchSettled} event (and an ERC-20 {Transfer} event per payout).
     */
    function distribute(
        bytes32 batchId,
        address token,
        address[] calldata recipients,
        uint256[] calldata amounts
    ) public virtual onlyRole(SETTLER_ROLE) {
        if (_settled[batchId]) {
            revert PayoutDistributorBatchAlreadySettled(batchId);
        }
        uint256 count = recipients.length;
        if (count != amounts.length) {
            revert PayoutDistributorLengthMismatch(count, amounts.length);
        }
        if (count == 0) {
            revert PayoutDistributorEmptyBatch();
        }
        _settled[batchId] = true;
        address from = _treasury;
        uint256 total = 0;
        for (uint256 i = 0; i < count; ++i) {
            address to = recipients[i];
            uint256 amount = amounts[i];
            if (to == address(0)) {
                revert PayoutDistributorInvalidRecipient(i);
            }
            if (amount == 0) {
                revert PayoutDistributorInvalidAmount(i);
            }
            total += amount;
            IERC20(token).safeTransferFrom(from, to, amount);
        }
        emit BatchSettled(batchId, token, count, total);
    }

    /// @dev Sets the treasury and emits {TreasuryChanged}; reverts for the zero address.
    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) {
            revert PayoutDistributorInvalidTreasury(newTreasury);
        }
        address previous = _treasury;
        _treasury = newTreasury;
        emit TreasuryChanged(previous, newTreasury);
    }
}
