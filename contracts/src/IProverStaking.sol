// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The provernet prover staking interface
/// @notice Provers deposit stake. The job market (set once, by the deployer) locks per-job
/// collateral out of a prover's free stake when the prover accepts a job, releases it when the job
/// settles, and slashes it when the prover misses its proof deadline: slashed collateral is burned
/// (sent to BURN_ADDRESS, which no one controls), so nobody gains from a prover's failure.
/// Invariant: a prover's locked amount never exceeds its stake.
///
/// Withdrawing takes two steps: `requestWithdrawal` moves free stake out of the stake at once
/// (it can no longer be locked or slashed, and it no longer counts as stake), and `withdraw` pays
/// it out once the delay (a constructor parameter) has passed. A new request adds to the pending
/// amount and restarts the delay.
interface IProverStaking {
    /// @notice Emitted when a prover deposits stake.
    /// @param prover The prover.
    /// @param amount Wei deposited.
    /// @param stake The prover's stake afterwards.
    event StakeDeposited(address indexed prover, uint256 amount, uint256 stake);

    /// @notice Emitted when a prover asks to withdraw stake.
    /// @param prover The prover.
    /// @param amount Wei moved out of the stake by this request.
    /// @param pending Total wei now waiting to be withdrawn.
    /// @param availableAt Timestamp from which `withdraw` pays out.
    event WithdrawalRequested(
        address indexed prover, uint256 amount, uint256 pending, uint256 availableAt
    );

    /// @notice Emitted when a prover's pending withdrawal is paid out.
    /// @param prover The prover.
    /// @param amount Wei paid.
    event StakeWithdrawn(address indexed prover, uint256 amount);

    /// @notice Emitted when the market locks collateral for a job.
    /// @param prover The prover.
    /// @param amount Wei locked.
    event CollateralLocked(address indexed prover, uint256 amount);

    /// @notice Emitted when the market releases collateral after a job settled.
    /// @param prover The prover.
    /// @param amount Wei released.
    event CollateralReleased(address indexed prover, uint256 amount);

    /// @notice Emitted when the market slashes locked collateral (burned).
    /// @param prover The prover.
    /// @param amount Wei taken from the stake.
    event CollateralSlashed(address indexed prover, uint256 amount);

    /// @notice Emitted when the deployer binds the staking contract to its market.
    /// @param market The market contract.
    event MarketSet(address market);

    /// @notice Only the deployer may set the market, and only once.
    /// @param caller The account that tried.
    error NotDeployer(address caller);

    /// @notice The market has already been set.
    error MarketAlreadySet();

    /// @notice The market address must be non-zero.
    error ZeroMarket();

    /// @notice Only the market may lock, release or slash collateral.
    /// @param caller The account that tried.
    error NotMarket(address caller);

    /// @notice Amounts must be positive.
    error ZeroAmount();

    /// @notice An amount does not fit the 96-bit accounting fields.
    /// @param amount The amount.
    error AmountTooLarge(uint256 amount);

    /// @notice The prover's free stake (stake minus locked) does not cover the amount.
    /// @param prover The prover.
    /// @param free The free stake.
    /// @param needed The amount asked for.
    error InsufficientFreeStake(address prover, uint256 free, uint256 needed);

    /// @notice Releasing or slashing more than is locked (a market bug).
    /// @param prover The prover.
    /// @param locked Wei locked.
    /// @param amount Wei asked for.
    error InsufficientLocked(address prover, uint256 locked, uint256 amount);

    /// @notice The prover has no pending withdrawal.
    /// @param prover The prover.
    error NoPendingWithdrawal(address prover);

    /// @notice The withdrawal delay has not passed yet.
    /// @param availableAt Timestamp from which the withdrawal pays out.
    error WithdrawalNotReady(uint256 availableAt);

    /// @notice A transfer of ether failed.
    /// @param to The recipient.
    /// @param amount Wei.
    error TransferFailed(address to, uint256 amount);

    /// @notice A call re-entered the contract.
    error Reentrancy();

    /// @notice Bind this contract to its market (deployer only, once).
    /// @param market The JobMarket contract.
    function setMarket(address market) external;

    /// @notice Deposit `msg.value` wei of stake for the caller.
    function deposit() external payable;

    /// @notice Move `amount` wei of free stake into a pending withdrawal.
    /// @param amount Wei to withdraw.
    function requestWithdrawal(uint256 amount) external;

    /// @notice Pay out the caller's pending withdrawal once its delay has passed.
    function withdraw() external;

    /// @notice Lock `amount` of the prover's free stake as job collateral. Market only.
    /// @param prover The prover.
    /// @param amount Wei.
    function lockCollateral(address prover, uint256 amount) external;

    /// @notice Release `amount` of the prover's locked collateral. Market only.
    /// @param prover The prover.
    /// @param amount Wei.
    function releaseCollateral(address prover, uint256 amount) external;

    /// @notice Take `amount` of the prover's locked collateral out of its stake and burn it.
    /// Market only.
    /// @param prover The prover.
    /// @param amount Wei.
    function slashCollateral(address prover, uint256 amount) external;

    /// @notice A prover's stake and the part of it that is locked.
    /// @param prover The prover.
    /// @return stake Wei staked (pending withdrawals excluded).
    /// @return locked Wei locked as collateral.
    function stakeOf(address prover) external view returns (uint256 stake, uint256 locked);

    /// @notice A prover's stake that is not locked.
    /// @param prover The prover.
    /// @return Wei.
    function freeStakeOf(address prover) external view returns (uint256);

    /// @notice A prover's pending withdrawal.
    /// @param prover The prover.
    /// @return amount Wei waiting.
    /// @return availableAt Timestamp from which it pays out.
    function pendingWithdrawalOf(address prover)
        external
        view
        returns (uint256 amount, uint256 availableAt);

    /// @notice The market bound to this contract (zero until set).
    /// @return The market.
    function market() external view returns (address);

    /// @notice Seconds between a withdrawal request and its payout.
    /// @return Seconds.
    function withdrawalDelay() external view returns (uint256);

    /// @notice Where slashed collateral goes: 0x000000000000000000000000000000000000dEaD, an
    /// address with no known key or code.
    /// @return The burn address.
    function BURN_ADDRESS() external view returns (address);
}
