// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721Utils} from "@openzeppelin/contracts/token/ERC721/utils/ERC721Utils.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IERC4907} from "./interfaces/IERC4907.sol";

/**
 * @dev Reskilling rights of Manabi Relay: each token is the right to one seat in one course (a "program").
 *
 * A sponsor buys a right with JPYC (an ERC-20 with ERC-2612 `permit`; see {purchaseWithPermit}) or the
 * operator mints it after an off-chain payment ({mintPaidOffChain}). The sponsor lends it free of charge to a
 * learner through ERC-4907 ({setUser}, or {lendWithSig} with an EIP-712 signature submitted by a relayer).
 *
 * Rules beyond ERC-4907:
 *
 * - Learner protection: while a lending is active (`user != 0` and `expires > block.timestamp`) nobody can
 *   change it: not the owner, not an approved address, not an ERC-721 operator. Any change is refused; the
 *   lending ends only at its expiry or through {recordCompletion}.
 * - A transfer keeps the user and the expiry (the ERC-4907 reference clears them): the buyer gets the token and
 *   its future payouts, the learner keeps the seat.
 * - Use once: a right is consumed when its lending ends, either because the expiry has passed (derived lazily
 *   from the stored expiry) or because the operator recorded the course as completed. A consumed right cannot be
 *   lent again until someone pays the program price again ({renewWithPermit}). Consumed rights stay tradable.
 * - The operator can lock transfers between holders per program ({setTransfersLocked}); minting still works.
 *
 * The payment token is only ever called through `permit`, `allowance` and `transferFrom`, which real JPYC (a
 * Circle FiatToken fork without `DOMAIN_SEPARATOR()`) provides.
 */
contract ReskillingRights is ERC721, AccessControl, EIP712, Nonces, IERC4907 {
    using SafeERC20 for IERC20;

    /// @dev Life cycle of a right, see {rightStatus}.
    enum RightStatus {
        Unused,
        Lent,
        Consumed
    }

    /// @dev A course whose seats are sold as rights. `minted` counts every right ever minted for it.
    struct Program {
        uint256 price;
        uint32 supplyCap;
        uint32 minted;
        address treasury;
        uint64 maxLendingPeriod;
        bool transfersLocked;
        bool exists;
    }

    /**
     * @dev Per-token record in one storage slot: the ERC-4907 lending (kept after the lending ends, so that the
     * right reads as consumed) and the token's program. Program ids therefore fit in 32 bits.
     */
    struct RightRecord {
        address user;
        uint64 expires;
        uint32 programId;
    }

    /// @dev Role allowed to manage programs, mint rights paid off chain and record course completions.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// @dev EIP-712 type hash of the lending authorisation signed by a token owner, see {lendWithSig}.
    bytes32 public constant LEND_TYPEHASH =
        keccak256("Lend(uint256 tokenId,address user,uint64 expires,uint256 nonce,uint256 deadline)");

    IERC20 private immutable _paymentToken;

    uint256 private _lastTokenId;

    mapping(uint256 programId => Program) private _programs;

    mapping(uint256 tokenId => RightRecord) private _rights;

    mapping(bytes32 paymentRefHash => bool) private _usedPaymentRefs;

    /// @dev Emitted when the operator creates program `programId`.
    event ProgramCreated(
        uint256 indexed programId,
        uint256 price,
        uint32 supplyCap,
        address treasury,
        uint64 maxLendingPeriod
    );

    /// @dev Emitted when the price of program `programId` changes.
    event ProgramPriceChanged(uint256 indexed programId, uint256 price);

    /// @dev Emitted when the supply cap of program `programId` changes.
    event ProgramSupplyCapChanged(uint256 indexed programId, uint32 supplyCap);

    /// @dev Emitted when transfers between holders of program `programId` are locked or unlocked.
    event ProgramTransfersLockChanged(uint256 indexed programId, bool locked);

    /// @dev Emitted for each right `buyer` bought with the payment token for `price`.
    event RightPurchased(uint256 indexed tokenId, uint256 indexed programId, address indexed buyer, uint256 price);

    /// @dev Emitted when the operator mints a right paid off chain. `paymentRefHash` is a hash, never the reference.
    event RightMintedOffChain(
        uint256 indexed tokenId,
        uint256 indexed programId,
        address indexed to,
        bytes32 paymentRefHash
    );

    /// @dev Emitted when `owner`'s right `tokenId` is lent to `user` until `expires`, along with {UpdateUser}.
    event RightLent(uint256 indexed tokenId, address indexed owner, address indexed user, uint64 expires);

    /// @dev Emitted when the operator records that `user` completed the course of right `tokenId`.
    event CourseCompleted(uint256 indexed tokenId, address indexed user);

    /// @dev Emitted when `payer` paid `price` to make the consumed right `tokenId` usable again.
    event RightRenewed(uint256 indexed tokenId, address indexed payer, uint256 price);

    /// @dev The payment token is the zero address.
    error ReskillingRightsInvalidPaymentToken(address paymentToken);

    /// @dev No program `programId` exists.
    error ReskillingRightsUnknownProgram(uint256 programId);

    /// @dev Program ids must fit in 32 bits.
    error ReskillingRightsInvalidProgramId(uint256 programId);

    /// @dev Program `programId` already exists.
    error ReskillingRightsProgramExists(uint256 programId);

    /// @dev The treasury of a program cannot be the zero address.
    error ReskillingRightsInvalidTreasury(address treasury);

    /// @dev The supply cap must be positive and not below the number of rights already minted.
    error ReskillingRightsInvalidSupplyCap(uint32 supplyCap, uint32 minted);

    /// @dev The maximum lending period of a program must be positive.
    error ReskillingRightsInvalidLendingPeriod(uint64 maxLendingPeriod);

    /// @dev A batch purchase must buy at least one right.
    error ReskillingRightsInvalidQuantity(uint256 quantity);

    /// @dev Program `programId` has no `quantity` rights left under its supply cap.
    error ReskillingRightsSoldOut(uint256 programId, uint256 quantity);

    /// @dev The permit failed and the allowance `payer` gave this contract is below `needed`.
    error ReskillingRightsInsufficientAllowance(address payer, uint256 allowance, uint256 needed);

    /// @dev `payer` may not pay for a renewal: it must be the token owner or the caller.
    error ReskillingRightsInvalidPayer(address payer);

    /// @dev The payment reference hash is zero.
    error ReskillingRightsInvalidPaymentRef();

    /// @dev A right was already minted for the off-chain payment `paymentRefHash`.
    error ReskillingRightsPaymentRefUsed(bytes32 paymentRefHash);

    /// @dev A right cannot be lent to the zero address.
    error ReskillingRightsInvalidUser(address user);

    /// @dev `expires` is not after now or is after `latest`, now plus the program's maximum lending period.
    error ReskillingRightsInvalidExpiry(uint64 expires, uint256 latest);

    /// @dev Right `tokenId` is lent and its lending cannot be changed until it ends.
    error ReskillingRightsActiveLending(uint256 tokenId);

    /// @dev Right `tokenId` is consumed and must be renewed before it is lent again.
    error ReskillingRightsConsumed(uint256 tokenId);

    /// @dev Right `tokenId` is not consumed, so there is nothing to renew.
    error ReskillingRightsNotConsumed(uint256 tokenId);

    /// @dev Right `tokenId` has no active lending.
    error ReskillingRightsNotLent(uint256 tokenId);

    /// @dev The lending signature expired at `deadline`.
    error ReskillingRightsExpiredSignature(uint256 deadline);

    /// @dev The lending signature for `tokenId` is not a valid signature of its owner `owner`.
    error ReskillingRightsInvalidSigner(uint256 tokenId, address owner);

    /// @dev Transfers between holders of program `programId` are locked.
    error ReskillingRightsTransfersLocked(uint256 programId);

    /**
     * @dev Sets up the collection, grants `DEFAULT_ADMIN_ROLE` to `admin` and sets the payment token (JPYC).
     *
     * Requirements:
     *
     * - `paymentToken_` cannot be the zero address.
     */
    constructor(
        address admin,
        address paymentToken_
    ) ERC721("Manabi Relay Reskilling Rights", "MRR") EIP712("ReskillingRights", "1") {
        if (paymentToken_ == address(0)) {
            revert ReskillingRightsInvalidPaymentToken(paymentToken_);
        }
        _paymentToken = IERC20(paymentToken_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @dev Returns the ERC-20 token (JPYC) rights are paid with.
    function paymentToken() public view virtual returns (address) {
        return address(_paymentToken);
    }

    /// @dev Returns program `programId`, all zero with `exists == false` if it does not exist.
    function program(uint256 programId) public view virtual returns (Program memory) {
        return _programs[programId];
    }

    /**
     * @dev Returns the program right `tokenId` belongs to.
     *
     * Requirements:
     *
     * - `tokenId` must exist.
     */
    function programOf(uint256 tokenId) public view virtual returns (uint256) {
        _requireOwned(tokenId);
        return _rights[tokenId].programId;
    }

    /**
     * @dev Returns whether right `tokenId` is consumed: it was lent and its lending has ended.
     *
     * Requirements:
     *
     * - `tokenId` must exist.
     */
    function isConsumed(uint256 tokenId) public view virtual returns (bool) {
        return rightStatus(tokenId) == RightStatus.Consumed;
    }

    /**
     * @dev Returns the life-cycle status of right `tokenId`: `Unused` (never lent, or renewed), `Lent` (an active
     * lending) or `Consumed` (its lending ended by expiry or by {recordCompletion}).
     *
     * Requirements:
     *
     * - `tokenId` must exist.
     */
    function rightStatus(uint256 tokenId) public view virtual returns (RightStatus) {
        _requireOwned(tokenId);
        return _rightStatus(tokenId);
    }

    /**
     * @dev See {IERC4907-userOf}. Returns the zero address once `block.timestamp` reaches the expiry.
     *
     * Requirements:
     *
     * - `tokenId` must exist.
     */
    function userOf(uint256 tokenId) public view virtual returns (address) {
        _requireOwned(tokenId);
        return _rightStatus(tokenId) == RightStatus.Lent ? _rights[tokenId].user : address(0);
    }

    /**
     * @dev See {IERC4907-userExpires}. Returns the stored expiry, also after the lending ended (zero if the right
     * was never lent or was renewed).
     *
     * Requirements:
     *
     * - `tokenId` must exist.
     */
    function userExpires(uint256 tokenId) public view virtual returns (uint256) {
        _requireOwned(tokenId);
        return _rights[tokenId].expires;
    }

    /// @dev Returns the EIP-712 domain separator of this contract, used by {lendWithSig} signatures.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev See {IERC165-supportsInterface}. Adds ERC-4907 (`0xad092b5c`).
    function supportsInterface(bytes4 interfaceId) public view virtual override(ERC721, AccessControl) returns (bool) {
        return interfaceId == type(IERC4907).interfaceId || super.supportsInterface(interfaceId);
    }

    /**
     * @dev Creates program `programId`, whose rights cost `price` (in payment token base units, paid to
     * `treasury`), of which at most `supplyCap` can be minted, and which can be lent for at most
     * `maxLendingPeriod` seconds at a time.
     *
     * Requirements:
     *
     * - the caller must have `OPERATOR_ROLE`.
     * - `programId` must fit in 32 bits and the program must not exist.
     * - `treasury` cannot be the zero address.
     * - `supplyCap` and `maxLendingPeriod` must be positive.
     *
     * Emits a {ProgramCreated} event.
     */
    function createProgram(
        uint256 programId,
        uint256 price,
        uint32 supplyCap,
        address treasury,
        uint64 maxLendingPeriod
    ) public virtual onlyRole(OPERATOR_ROLE) {
        if (programId > type(uint32).max) {
            revert ReskillingRightsInvalidProgramId(programId);
        }
        Program storage p = _programs[programId];
        if (p.exists) {
            revert ReskillingRightsProgramExists(programId);
        }
        if (treasury == address(0)) {
            revert ReskillingRightsInvalidTreasury(treasury);
        }
        if (supplyCap == 0) {
            revert ReskillingRightsInvalidSupplyCap(supplyCap, 0);
        }
        if (maxLendingPeriod == 0) {
            revert ReskillingRightsInvalidLendingPeriod(maxLendingPeriod);
        }
        p.price = price;
        p.supplyCap = supplyCap;
        p.treasury = treasury;
        p.maxLendingPeriod = maxLendingPeriod;
        p.exists = true;
        emit ProgramCreated(programId, price, supplyCap, treasury, maxLendingPeriod);
    }

    /**
     * @dev Sets the price of new rights and renewals of program `programId`.
     *
     * Requirements:
     *
     * - the caller must have `OPERATOR_ROLE`.
     * - program `programId` must exist.
     *
     * Emits a {ProgramPriceChanged} event.
     */
    function setProgramPrice(uint256 programId, uint256 price) public virtual onlyRole(OPERATOR_ROLE) {
        _requireProgram(programId).price = price;
        emit ProgramPriceChanged(programId, price);
    }

    /**
     * @dev Sets the supply cap of program `programId`.
     *
     * Requirements:
     *
     * - the caller must have `OPERATOR_ROLE`.
     * - program `programId` must exist.
     * - `supplyCap` must be positive and not below the number of rights already minted.
     *
     * Emits a {ProgramSupplyCapChanged} event.
     */
    function setProgramSupplyCap(uint256 programId, uint32 supplyCap) public virtual onlyRole(OPERATOR_ROLE) {
        Program storage p = _requireProgram(programId);
        if (supplyCap == 0 || supplyCap < p.minted) {
            revert ReskillingRightsInvalidSupplyCap(supplyCap, p.minted);
        }
        p.supplyCap = supplyCap;
        emit ProgramSupplyCapChanged(programId, supplyCap);
    }

    /**
     * @dev Locks (`locked == true`) or unlocks transfers between holders of rights of program `programId`.
     * Minting is never locked.
     *
     * Requirements:
     *
     * - the caller must have `OPERATOR_ROLE`.
     * - program `programId` must exist.
     *
     * Emits a {ProgramTransfersLockChanged} event.
     */
    function setTransfersLocked(uint256 programId, bool locked) public virtual onlyRole(OPERATOR_ROLE) {
        _requireProgram(programId).transfersLocked = locked;
        emit ProgramTransfersLockChanged(programId, locked);
    }

    /**
     * @dev Sells one right of program `programId` to `buyer` for the program price, paid in the payment token
     * from `buyer` to the program treasury. Anyone may submit (the relayer); `v`, `r`, `s` are `buyer`'s ERC-2612
     * permit for this contract of exactly the price, valid until `deadline`.
     *
     * If the permit fails (for instance because someone front-ran it) the purchase still goes through when
     * `buyer`'s allowance to this contract covers the price. This is also the entry point for smart-contract
     * wallets, which cannot sign permits: they approve first and pass any `v`, `r`, `s`.
     *
     * NOTE: A permit authorises a spend of the price, not a particular program: any caller can use a standing
     * allowance (or a permit seen in the mempool) to buy for `buyer` a right of a program with the same price.
     * The right always goes to `buyer`.
     *
     * Requirements:
     *
     * - program `programId` must exist and have a right left under its supply cap.
     * - the permit must succeed or `buyer`'s allowance to this contract must cover the price.
     * - `buyer` must hold the price and, if it is a contract, implement {IERC721Receiver-onERC721Received}.
     *
     * Emits a {RightPurchased} event (and an ERC-721 {Transfer} event).
     */
    function purchaseWithPermit(
        uint256 programId,
        address buyer,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) public virtual returns (uint256 tokenId) {
        return _purchase(programId, buyer, 1, deadline, v, r, s);
    }

    /**
     * @dev Same as {purchaseWithPermit} for `quantity` rights, with one permit of `quantity` times the price.
     * Returns the first token id; the others follow it in sequence.
     *
     * Requirements:
     *
     * - `quantity` must be positive.
     * - program `programId` must exist and have `quantity` rights left under its supply cap.
     * - the permit must succeed or `buyer`'s allowance to this contract must cover `quantity` times the price.
     * - `buyer` must hold that amount and, if it is a contract, implement {IERC721Receiver-onERC721Received}.
     *
     * Emits a {RightPurchased} event per right.
     */
    function purchaseBatchWithPermit(
        uint256 programId,
        address buyer,
        uint256 quantity,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) public virtual returns (uint256 firstTokenId) {
        if (quantity == 0) {
            revert ReskillingRightsInvalidQuantity(quantity);
        }
        return _purchase(programId, buyer, quantity, deadline, v, r, s);
    }

    /**
     * @dev Mints a right of program `programId` to `to` after a payment made off chain (invoice, card).
     * `paymentRefHash` is the backend's hash of the payment reference; the reference itself never goes on chain.
     *
     * Requirements:
     *
     * - the caller must have `OPERATOR_ROLE`.
     * - program `programId` must exist and have a right left under its supply cap.
     * - `paymentRefHash` must be non-zero and not used for an earlier mint.
     * - `to` cannot be the zero address and, if it is a contract, must implement
     *   {IERC721Receiver-onERC721Received}.
     *
     * Emits a {RightMintedOffChain} event (and an ERC-721 {Transfer} event).
     */
    function mintPaidOffChain(
        uint256 programId,
        address to,
        bytes32 paymentRefHash
    ) public virtual onlyRole(OPERATOR_ROLE) returns (uint256 tokenId) {
        if (paymentRefHash == bytes32(0)) {
            revert ReskillingRightsInvalidPaymentRef();
        }
        if (_usedPaymentRefs[paymentRefHash]) {
            revert ReskillingRightsPaymentRefUsed(paymentRefHash);
        }
        _usedPaymentRefs[paymentRefHash] = true;
        _reserveSupply(programId, 1);
        tokenId = _mintRight(programId, to);
        emit RightMintedOffChain(tokenId, programId, to, paymentRefHash);
        ERC721Utils.checkOnERC721Received(_msgSender(), address(0), to, tokenId, "");
    }

    /**
     * @dev See {IERC4907-setUser}. Lends right `tokenId` to `user` until `expires`.
     *
     * Unlike plain ERC-4907, a lending cannot be changed or cleared while it is active (learner protection), and
     * a consumed right must be renewed first.
     *
     * Requirements:
     *
     * - `tokenId` must exist and the caller must be its owner, approved for it, or an operator of the owner.
     * - the right must be `Unused` (not lent, not consumed).
     * - `user` cannot be the zero address.
     * - `expires` must be after now and at most the program's maximum lending period from now.
     *
     * Emits an {UpdateUser} event and a {RightLent} event.
     */
    function setUser(uint256 tokenId, address user, uint64 expires) public virtual {
        address owner = _requireOwned(tokenId);
        _checkAuthorized(owner, _msgSender(), tokenId);
        _lend(tokenId, owner, user, expires);
    }

    /**
     * @dev Lends right `tokenId` to `user` until `expires` on behalf of its current owner, who signed the EIP-712
     * message `Lend(tokenId, user, expires, nonce, deadline)` with their current {nonces} value. Anyone may submit
     * (the relayer). ERC-1271 signatures of smart-contract owners are accepted; ECDSA signatures must be low-s.
     *
     * Requirements:
     *
     * - `block.timestamp` must not be after `deadline`.
     * - `tokenId` must exist and `signature` must be its current owner's signature over the current nonce.
     * - the lending rules of {setUser}.
     *
     * Emits an {UpdateUser} event and a {RightLent} event.
     */
    function lendWithSig(
        uint256 tokenId,
        address user,
        uint64 expires,
        uint256 deadline,
        bytes calldata signature
    ) public virtual {
        if (block.timestamp > deadline) {
            revert ReskillingRightsExpiredSignature(deadline);
        }
        address owner = _requireOwned(tokenId);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(LEND_TYPEHASH, tokenId, user, expires, _useNonce(owner), deadline))
        );
        if (!SignatureChecker.isValidSignatureNowCalldata(owner, digest, signature)) {
            revert ReskillingRightsInvalidSigner(tokenId, owner);
        }
        _lend(tokenId, owner, user, expires);
    }

    /**
     * @dev Records that the user of right `tokenId` completed the course: the lending ends now and the right is
     * consumed.
     *
     * Requirements:
     *
     * - the caller must have `OPERATOR_ROLE`.
     * - `tokenId` must exist and be lent (an active lending).
     *
     * Emits an {UpdateUser} event (expiry set to now) and a {CourseCompleted} event.
     */
    function recordCompletion(uint256 tokenId) public virtual onlyRole(OPERATOR_ROLE) {
        _requireOwned(tokenId);
        if (_rightStatus(tokenId) != RightStatus.Lent) {
            revert ReskillingRightsNotLent(tokenId);
        }
        RightRecord storage info = _rights[tokenId];
        address user = info.user;
        info.expires = uint64(block.timestamp);
        emit UpdateUser(tokenId, user, uint64(block.timestamp));
        emit CourseCompleted(tokenId, user);
    }

    /**
     * @dev Makes the consumed right `tokenId` usable again: `payer` pays the current program price to the program
     * treasury and the lending record is cleared. The payment works like {purchaseWithPermit}: `v`, `r`, `s` are
     * `payer`'s permit for this contract of exactly the price, and a sufficient allowance is enough if it fails.
     *
     * Requirements:
     *
     * - `tokenId` must exist and be consumed.
     * - `payer` must be the owner of `tokenId` or the caller (so nobody spends a third party's allowance).
     * - the permit must succeed or `payer`'s allowance to this contract must cover the price.
     *
     * Emits an {UpdateUser} event (zero user and expiry) and a {RightRenewed} event.
     */
    function renewWithPermit(
        uint256 tokenId,
        address payer,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) public virtual {
        address owner = _requireOwned(tokenId);
        if (payer != owner && payer != _msgSender()) {
            revert ReskillingRightsInvalidPayer(payer);
        }
        if (_rightStatus(tokenId) != RightStatus.Consumed) {
            revert ReskillingRightsNotConsumed(tokenId);
        }
        RightRecord storage info = _rights[tokenId];
        Program storage p = _programs[info.programId];
        uint256 price = p.price;
        info.user = address(0);
        info.expires = 0;
        emit UpdateUser(tokenId, address(0), 0);
        emit RightRenewed(tokenId, payer, price);
        _collectPayment(payer, p.treasury, price, deadline, v, r, s);
    }

    /**
     * @dev See {ERC721-_update}. The one place for rules on token movements:
     *
     * - transfers between holders revert while the token's program has transfers locked (mints are allowed).
     * - the lending record deliberately survives a transfer (learner protection): the new owner gets the token
     *   and its payouts, the user keeps the seat until the lending ends.
     */
    function _update(address to, uint256 tokenId, address auth) internal virtual override returns (address) {
        address from = super._update(to, tokenId, auth);
        if (from != address(0) && to != address(0)) {
            uint256 programId = _rights[tokenId].programId;
            if (_programs[programId].transfersLocked) {
                revert ReskillingRightsTransfersLocked(programId);
            }
        }
        return from;
    }

    /// @dev Returns program `programId`, reverting if it does not exist.
    function _requireProgram(uint256 programId) internal view returns (Program storage p) {
        p = _programs[programId];
        if (!p.exists) {
            revert ReskillingRightsUnknownProgram(programId);
        }
    }

    /// @dev Status of an existing token, derived from its lending record and the current time.
    function _rightStatus(uint256 tokenId) internal view returns (RightStatus) {
        RightRecord storage info = _rights[tokenId];
        if (info.user == address(0)) {
            return RightStatus.Unused;
        }
        return info.expires > block.timestamp ? RightStatus.Lent : RightStatus.Consumed;
    }

    /// @dev Lending rules shared by {setUser} and {lendWithSig}. `owner` is the token's current owner.
    function _lend(uint256 tokenId, address owner, address user, uint64 expires) internal virtual {
        if (user == address(0)) {
            revert ReskillingRightsInvalidUser(user);
        }
        RightStatus status = _rightStatus(tokenId);
        if (status == RightStatus.Lent) {
            revert ReskillingRightsActiveLending(tokenId);
        }
        if (status == RightStatus.Consumed) {
            revert ReskillingRightsConsumed(tokenId);
        }
        RightRecord storage info = _rights[tokenId];
        uint256 latest = block.timestamp + _programs[info.programId].maxLendingPeriod;
        if (expires <= block.timestamp || expires > latest) {
            revert ReskillingRightsInvalidExpiry(expires, latest);
        }
        info.user = user;
        info.expires = expires;
        emit UpdateUser(tokenId, user, expires);
        emit RightLent(tokenId, owner, user, expires);
    }

    /// @dev Sells `quantity` rights: mints them (effects), then collects the payment and runs receiver checks.
    function _purchase(
        uint256 programId,
        address buyer,
        uint256 quantity,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) private returns (uint256 firstTokenId) {
        Program storage p = _reserveSupply(programId, quantity);
        uint256 price = p.price;
        firstTokenId = _lastTokenId + 1;
        for (uint256 i = 0; i < quantity; ++i) {
            uint256 tokenId = _mintRight(programId, buyer);
            emit RightPurchased(tokenId, programId, buyer, price);
        }
        _collectPayment(buyer, p.treasury, price * quantity, deadline, v, r, s);
        for (uint256 i = 0; i < quantity; ++i) {
            ERC721Utils.checkOnERC721Received(_msgSender(), address(0), buyer, firstTokenId + i, "");
        }
    }

    /// @dev Counts `quantity` new rights against the supply cap of program `programId`.
    function _reserveSupply(uint256 programId, uint256 quantity) private returns (Program storage p) {
        p = _requireProgram(programId);
        uint256 minted = p.minted + quantity;
        if (minted > p.supplyCap) {
            revert ReskillingRightsSoldOut(programId, quantity);
        }
        p.minted = uint32(minted);
    }

    /// @dev Mints the next token id to `to` as a right of program `programId`, without receiver check.
    function _mintRight(uint256 programId, address to) private returns (uint256 tokenId) {
        tokenId = ++_lastTokenId;
        _rights[tokenId].programId = uint32(programId);
        _mint(to, tokenId);
    }

    /**
     * @dev Moves `amount` of the payment token from `payer` to `treasury` using OpenZeppelin's trustless permit
     * pattern: the permit may fail (front-run, already used) as long as the allowance covers `amount`.
     */
    function _collectPayment(
        address payer,
        address treasury,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) private {
        if (amount == 0) {
            return;
        }
        try IERC20Permit(address(_paymentToken)).permit(payer, address(this), amount, deadline, v, r, s) {} catch {
            uint256 allowance = _paymentToken.allowance(payer, address(this));
            if (allowance < amount) {
                revert ReskillingRightsInsufficientAllowance(payer, allowance, amount);
            }
        }
        _paymentToken.safeTransferFrom(payer, treasury, amount);
    }
}
