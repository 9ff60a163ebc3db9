// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @dev Interface of the ERC-4907 rental extension for ERC-721, as defined in
 * https://eips.ethereum.org/EIPS/eip-4907[ERC-4907]. Its ERC-165 interface id is `0xad092b5c`.
 *
 * An ERC-721 token gets a second role, the `user`, who may use the token until `expires` without owning it.
 */
interface IERC4907 {
    /**
     * @dev Emitted when the `user` of an NFT or the `expires` of the `user` is changed.
     * The zero address for `user` indicates that there is no user address.
     */
    event UpdateUser(uint256 indexed tokenId, address indexed user, uint64 expires);

    /**
     * @dev Sets the `user` and `expires` of `tokenId`.
     *
     * Requirements:
     *
     * - the caller must be the owner of `tokenId` or approved to operate on it.
     *
     * Emits an {UpdateUser} event.
     */
    function setUser(uint256 tokenId, address user, uint64 expires) external;

    /**
     * @dev Returns the current user of `tokenId`, or the zero address if there is none or the rental has expired.
     */
    function userOf(uint256 tokenId) external view returns (address);

    /**
     * @dev Returns the UNIX timestamp at which the user's rental of `tokenId` ends.
     */
    function userExpires(uint256 tokenId) external view returns (uint256);
}
