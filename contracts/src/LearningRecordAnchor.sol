// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/**
 * @dev Anchors batches of learning records (attendance, completions, hires) by the Merkle root of their hashes,
 * so that anyone holding a record and its proof can show it existed at the anchoring time.
 *
 * IMPORTANT: Only hashes go on chain, never personal data: a public chain cannot erase anything (APPI). The
 * records themselves stay in the city's database; `uri` must point to access-controlled storage or to a
 * pseudonymous manifest, never to personal data.
 */
contract LearningRecordAnchor is AccessControl {
    /// @dev Role allowed to anchor record batches.
    bytes32 public constant RECORDER_ROLE = keccak256("RECORDER_ROLE");

    mapping(bytes32 root => uint64 timestamp) private _anchoredAt;

    /// @dev Emitted when the Merkle `root` of `count` record hashes is anchored at `anchoredAt`.
    event RecordsAnchored(bytes32 indexed root, uint32 count, string uri, uint64 anchoredAt);

    /// @dev The root cannot be zero.
    error LearningRecordAnchorInvalidRoot();

    /// @dev A batch must contain at least one record.
    error LearningRecordAnchorInvalidCount();

    /// @dev `root` was already anchored at `anchoredAt`.
    error LearningRecordAnchorAlreadyAnchored(bytes32 root, uint64 anchoredAt);

    /// @dev Grants `DEFAULT_ADMIN_ROLE` to `admin`.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @dev Returns the block timestamp at which `root` was anchored, or 0 if it never was.
    function anchoredAt(bytes32 root) public view virtual returns (uint64) {
        return _anchoredAt[root];
    }

    /**
     * @dev Anchors `root`, the Merkle root of the hashes of `count` learning records described at `uri`.
     * Pass only hashes and pseudonymous data: nothing written here can ever be erased.
     *
     * Requirements:
     *
     * - the caller must have `RECORDER_ROLE`.
     * - `root` must be non-zero and not anchored before.
     * - `count` must be positive.
     *
     * Emits a {RecordsAnchored} event.
     */
    function anchor(bytes32 root, uint32 count, string calldata uri) public virtual onlyRole(RECORDER_ROLE) {
        if (root == bytes32(0)) {
            revert LearningRecordAnchorInvalidRoot();
        }
        if (count == 0) {
            revert LearningRecordAnchorInvalidCount();
        }
        uint64 previous = _anchoredAt[root];
        if (previous != 0) {
            revert LearningRecordAnchorAlreadyAnchored(root, previous);
        }
        uint64 timestamp = uint64(block.timestamp);
        _anchoredAt[root] = timestamp;
        emit RecordsAnchored(root, count, uri, timestamp);
    }
}
