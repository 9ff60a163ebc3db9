// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ERC721Holder} from "@openzeppelin/contracts/token/ERC721/utils/ERC721Holder.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/**
 * @dev TEST DOUBLE of a smart-contract wallet (ERC-1271) for tests only: signatures are valid when they recover to
 * the wallet's single signer, who is also the only account allowed to {execute} calls from the wallet.
 */
contract TestSmartWallet is IERC1271, ERC721Holder {
    address private immutable _signer;

    /// @dev The caller is not the wallet's signer.
    error TestSmartWalletUnauthorized(address caller);

    /// @dev Sets the EOA whose signatures the wallet accepts.
    constructor(address signer_) {
        _signer = signer_;
    }

    /// @dev Returns the EOA whose signatures the wallet accepts.
    function signer() public view returns (address) {
        return _signer;
    }

    /// @dev See {IERC1271-isValidSignature}.
    function isValidSignature(bytes32 hash, bytes memory signature) public view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == _signer) {
            return IERC1271.isValidSignature.selector;
        }
        return bytes4(0xffffffff);
    }

    /**
     * @dev Calls `target` with `data` from the wallet and returns the result.
     *
     * Requirements:
     *
     * - the caller must be the signer.
     */
    function execute(address target, bytes calldata data) public returns (bytes memory) {
        if (msg.sender != _signer) {
            revert TestSmartWalletUnauthorized(msg.sender);
        }
        return Address.functionCall(target, data);
    }
}
