// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IProverStaking} from "./IProverStaking.sol";

/// @title The provernet prover staking contract
/// @notice Holds provers' stake and pending withdrawals; see IProverStaking. The ether this
/// contract holds always equals the sum over provers of stake plus pending withdrawal; slashed
/// collateral leaves it for the burn address.
contract ProverStaking is IProverStaking {
    /// @inheritdoc IProverStaking
    address public constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;

    /// @dev One slot per prover: stake and locked collateral (locked <= stake).
    struct Stake {
        uint96 stake;
        uint96 locked;
    }

    /// @dev A pending withdrawal: wei and the timestamp it pays out from.
    struct Withdrawal {
        uint96 amount;
        uint64 availableAt;
    }

    address private immutable _deployer;
    uint256 private immutable _withdrawalDelay;
    address private _market;
    bool private transient _entered;

    mapping(address prover => Stake) private _stakes;
    mapping(address prover => Withdrawal) private _withdrawals;

    /// @param withdrawalDelay_ Seconds between a withdrawal request and its payout.
    constructor(uint256 withdrawalDelay_) {
        _deployer = msg.sender;
        _withdrawalDelay = withdrawalDelay_;
    }

    modifier onlyMarket() {
        if (msg.sender != _market) revert NotMarket(msg.sender);
        _;
    }

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    /// @inheritdoc IProverStaking
    function setMarket(address market_) external {
        if (msg.sender != _deployer) revert NotDeployer(msg.sender);
        if (_market != address(0)) revert MarketAlreadySet();
        if (market_ == address(0)) revert ZeroMarket();
        _market = market_;
        emit MarketSet(market_);
    }

    /// @inheritdoc IProverStaking
    function deposit() external payable {
        if (msg.value == 0) revert ZeroAmount();
        Stake storage s = _stakes[msg.sender];
        uint256 total = uint256(s.stake) + msg.value;
        if (total > type(uint96).max) revert AmountTooLarge(total);
        s.stake = uint96(total);
        emit StakeDeposited(msg.sender, msg.value, total);
    }

    /// @inheritdoc IProverStaking
    function requestWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Stake storage s = _stakes[msg.sender];
        uint256 free = s.stake - s.locked;
        if (amount > free) revert InsufficientFreeStake(msg.sender, free, amount);
        Withdrawal storage w = _withdrawals[msg.sender];
        // Repeated requests add up, so the pending sum is range-checked like a deposit.
        uint256 pending = uint256(w.amount) + amount;
        if (pending > type(uint96).max) revert AmountTooLarge(pending);
        uint256 availableAt = block.timestamp + _withdrawalDelay;
        s.stake -= uint96(amount);
        w.amount = uint96(pending);
        w.availableAt = uint64(availableAt);
        emit WithdrawalRequested(msg.sender, amount, pending, availableAt);
    }

    /// @inheritdoc IProverStaking
    function withdraw() external nonReentrant {
        Withdrawal memory w = _withdrawals[msg.sender];
        if (w.amount == 0) revert NoPendingWithdrawal(msg.sender);
        if (block.timestamp < w.availableAt) revert WithdrawalNotReady(w.availableAt);
        delete _withdrawals[msg.sender];
        emit StakeWithdrawn(msg.sender, w.amount);
        _send(msg.sender, w.amount);
    }

    /// @inheritdoc IProverStaking
    function lockCollateral(address prover, uint256 amount) external onlyMarket {
        Stake storage s = _stakes[prover];
        uint256 free = s.stake - s.locked;
        if (amount > free) revert InsufficientFreeStake(prover, free, amount);
        // amount <= free, so locked + amount <= stake < 2^96.
        unchecked {
            s.locked += uint96(amount);
        }
        emit CollateralLocked(prover, amount);
    }

    /// @inheritdoc IProverStaking
    function releaseCollateral(address prover, uint256 amount) external onlyMarket {
        Stake storage s = _stakes[prover];
        uint256 locked = s.locked;
        if (amount > locked) revert InsufficientLocked(prover, locked, amount);
        // amount <= locked, checked just above.
        unchecked {
            s.locked = uint96(locked - amount);
        }
        emit CollateralReleased(prover, amount);
    }

    /// @inheritdoc IProverStaking
    function slashCollateral(address prover, uint256 amount) external onlyMarket nonReentrant {
        Stake storage s = _stakes[prover];
        Stake memory current = s;
        if (amount > current.locked) revert InsufficientLocked(prover, current.locked, amount);
        // amount <= locked <= stake, checked just above.
        unchecked {
            s.locked = current.locked - uint96(amount);
            s.stake = current.stake - uint96(amount);
        }
        emit CollateralSlashed(prover, amount);
        _send(BURN_ADDRESS, amount);
    }

    /// @inheritdoc IProverStaking
    function stakeOf(address prover) external view returns (uint256 stake, uint256 locked) {
        Stake memory s = _stakes[prover];
        return (s.stake, s.locked);
    }

    /// @inheritdoc IProverStaking
    function freeStakeOf(address prover) external view returns (uint256) {
        Stake memory s = _stakes[prover];
        return s.stake - s.locked;
    }

    /// @inheritdoc IProverStaking
    function pendingWithdrawalOf(address prover)
        external
        view
        returns (uint256 amount, uint256 availableAt)
    {
        Withdrawal memory w = _withdrawals[prover];
        return (w.amount, w.availableAt);
    }

    /// @inheritdoc IProverStaking
    function market() external view returns (address) {
        return _market;
    }

    /// @inheritdoc IProverStaking
    function withdrawalDelay() external view returns (uint256) {
        return _withdrawalDelay;
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
