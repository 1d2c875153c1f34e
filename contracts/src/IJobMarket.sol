// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The provernet job market interface
/// @notice Escrow and settlement of proving jobs. Lifecycle (times are block timestamps):
///
///   createJob (Open, max fee escrowed)
///     -> awardJob       requester, while now <= bidDeadline, with the prover's EIP-712 bid;
///                       the prover's collateral is locked                       (Awarded)
///     -> cancelJob      requester, once now > bidDeadline, never awarded: full refund (Cancelled)
///   Awarded
///     -> submitProof    assigned prover while now <= proofDeadline: fee to the prover, the rest
///                       of the escrow to the requester, collateral released     (Fulfilled)
///     -> submitProof    any other staked prover while proofDeadline < now <= proofDeadline +
///                       rescueWindow ("rescue"): the assigned prover is slashed; the rescuer gets
///                       the fee and half the collateral (rounded down), the requester the rest of
///                       the escrow and the other half                           (Rescued)
///     -> slash          anyone once now > proofDeadline + rescueWindow: the requester gets the
///                       whole escrow and the whole collateral                   (Slashed)
///
/// Awarding and cancelling split time exactly at the bid deadline: a requester must land the
/// award transaction by then (bids are collected off-chain before it).
///
/// Bids are EIP-712 typed data: domain {name: "provernet JobMarket", version: "1", chainId,
/// verifyingContract: this market} (also reported by `eip712Domain`, EIP-5267), type
/// `Bid(uint256 jobId,address prover,uint256 fee,uint64 expiry)`; signatures are 65 bytes
/// (r, s, v) with v in {27, 28} and s in the lower half of the curve order (EIP-2).
///
/// Every payment is credited to a balance and paid out by `withdraw` (pull payments).
/// Invariant: the market's ether equals the escrow of Open and Awarded jobs plus all balances.
interface IJobMarket {
    /// @notice Where a job is in its lifecycle.
    enum JobStatus {
        None,
        Open,
        Awarded,
        Fulfilled,
        Rescued,
        Slashed,
        Cancelled
    }

    /// @notice One job. Amounts in wei, deadlines as unix timestamps.
    /// @param requester Who created the job and escrowed the max fee.
    /// @param bidDeadline Last timestamp at which the job may be awarded.
    /// @param proofDeadline Last timestamp at which the assigned prover may submit.
    /// @param status Lifecycle state.
    /// @param prover The assigned prover (zero until awarded).
    /// @param fee The winning bid's fee (zero until awarded).
    /// @param verifyingKey The model's key data contract, captured at creation.
    /// @param maxFee The escrow.
    /// @param collateral Stake the assigned prover must lock.
    /// @param modelId The registered model.
    /// @param inputCommitment Commitment to the private input: the first public signal.
    struct Job {
        address requester;
        uint40 bidDeadline;
        uint40 proofDeadline;
        JobStatus status;
        address prover;
        uint96 fee;
        address verifyingKey;
        uint96 maxFee;
        uint96 collateral;
        uint64 modelId;
        uint256 inputCommitment;
    }

    /// @notice A prover's signed offer (EIP-712 type `Bid`).
    /// @param jobId The job the offer is for.
    /// @param prover The signer, who will lock collateral and prove.
    /// @param fee Wei asked.
    /// @param expiry Last timestamp at which the bid may be used.
    struct Bid {
        uint256 jobId;
        address prover;
        uint256 fee;
        uint64 expiry;
    }

    /// @notice Per-account counters and balance.
    /// @param balance Wei credited and not yet withdrawn.
    /// @param feesEarned Total fees credited for accepted proofs.
    /// @param fulfilled Jobs this account proved (on time or as rescuer).
    /// @param slashed Jobs on which this account's collateral was slashed.
    /// @param active Set by the account's first job or credit; keeps the record's slot non-zero
    /// so that later credits update a slot rather than create one (5,000 instead of 22,100 gas).
    struct Account {
        uint96 balance;
        uint96 feesEarned;
        uint32 fulfilled;
        uint24 slashed;
        bool active;
    }

    /// @notice Emitted when a job is created.
    /// @param jobId The new job.
    /// @param requester Who created it.
    /// @param modelId The model to run.
    /// @param inputCommitment Commitment to the private input.
    /// @param maxFee Escrowed wei.
    /// @param collateral Collateral asked of the prover.
    /// @param bidDeadline Last award timestamp.
    /// @param proofDeadline Last proof timestamp for the assigned prover.
    event JobCreated(
        uint256 indexed jobId,
        address indexed requester,
        uint256 indexed modelId,
        uint256 inputCommitment,
        uint256 maxFee,
        uint256 collateral,
        uint256 bidDeadline,
        uint256 proofDeadline
    );

    /// @notice Emitted when the requester awards a job to a bid.
    /// @param jobId The job.
    /// @param prover The winning prover.
    /// @param fee The winning fee.
    event JobAwarded(uint256 indexed jobId, address indexed prover, uint256 fee);

    /// @notice Emitted when a proof verifies and the job settles.
    /// @param jobId The job.
    /// @param prover Who submitted the proof (the assigned prover or a rescuer).
    /// @param rescued True when a rescuer delivered after the proof deadline.
    /// @param outputs The public outputs (signals after the input commitment).
    event ProofAccepted(
        uint256 indexed jobId, address indexed prover, bool rescued, uint256[] outputs
    );

    /// @notice Emitted when an assigned prover's collateral is slashed.
    /// @param jobId The job.
    /// @param prover The slashed prover.
    /// @param collateral Wei slashed.
    event ProverSlashed(uint256 indexed jobId, address indexed prover, uint256 collateral);

    /// @notice Emitted when a never-awarded job is cancelled.
    /// @param jobId The job.
    event JobCancelled(uint256 indexed jobId);

    /// @notice Emitted when an account withdraws its balance.
    /// @param account The account.
    /// @param amount Wei paid.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice No job has this id.
    /// @param jobId The id.
    error UnknownJob(uint256 jobId);

    /// @notice The model is deprecated; it takes no new jobs.
    /// @param modelId The model.
    error ModelDeprecated(uint256 modelId);

    /// @notice The input commitment is not below the scalar field order r.
    /// @param inputCommitment The value given.
    error InputCommitmentOutOfField(uint256 inputCommitment);

    /// @notice createJob needs a positive max fee.
    error ZeroMaxFee();

    /// @notice An amount does not fit the 96-bit accounting fields.
    /// @param amount The amount.
    error AmountTooLarge(uint256 amount);

    /// @notice Deadlines must satisfy now <= bidDeadline < proofDeadline < 2^40.
    /// @param bidDeadline The bid deadline given.
    /// @param proofDeadline The proof deadline given.
    error BadDeadlines(uint256 bidDeadline, uint256 proofDeadline);

    /// @notice Only the job's requester may do this.
    /// @param jobId The job.
    /// @param caller The account that tried.
    error NotRequester(uint256 jobId, address caller);

    /// @notice The job is not in the state this call needs.
    /// @param jobId The job.
    /// @param status Its state.
    error WrongStatus(uint256 jobId, JobStatus status);

    /// @notice The bid deadline has passed; the job can no longer be awarded.
    /// @param jobId The job.
    /// @param bidDeadline The deadline.
    error BidDeadlinePassed(uint256 jobId, uint256 bidDeadline);

    /// @notice The bid deadline has not passed yet; the job cannot be cancelled.
    /// @param jobId The job.
    /// @param bidDeadline The deadline.
    error BidDeadlineNotPassed(uint256 jobId, uint256 bidDeadline);

    /// @notice The bid names another job.
    /// @param jobId The job being awarded.
    /// @param bidJobId The job in the bid.
    error BidForOtherJob(uint256 jobId, uint256 bidJobId);

    /// @notice The bid has expired.
    /// @param expiry The bid's expiry.
    error BidExpired(uint256 expiry);

    /// @notice The bid's fee exceeds the job's max fee.
    /// @param fee The fee.
    /// @param maxFee The max fee.
    error FeeAboveMax(uint256 fee, uint256 maxFee);

    /// @notice The signature is not the bid's prover's signature over this chain and contract.
    error InvalidBidSignature();

    /// @notice The proof deadline has passed for the assigned prover.
    /// @param jobId The job.
    /// @param proofDeadline The deadline.
    error ProofDeadlinePassed(uint256 jobId, uint256 proofDeadline);

    /// @notice Before the proof deadline only the assigned prover may submit.
    /// @param jobId The job.
    /// @param caller The account that tried.
    error NotAssignedProver(uint256 jobId, address caller);

    /// @notice A rescuer must hold stake.
    /// @param caller The account that tried.
    error NotStaked(address caller);

    /// @notice The rescue window has closed; the job can only be slashed.
    /// @param jobId The job.
    error RescueWindowClosed(uint256 jobId);

    /// @notice The rescue window is still open; the job cannot be slashed yet.
    /// @param jobId The job.
    /// @param slashableAfter Timestamp after which slashing is allowed.
    error RescueWindowOpen(uint256 jobId, uint256 slashableAfter);

    /// @notice The proof does not verify against the job's key, input commitment and outputs.
    /// @param jobId The job.
    error InvalidProof(uint256 jobId);

    /// @notice The caller has nothing to withdraw.
    /// @param account The caller.
    error NothingToWithdraw(address account);

    /// @notice A transfer of ether failed.
    /// @param to The recipient.
    /// @param amount Wei.
    error TransferFailed(address to, uint256 amount);

    /// @notice Only the staking contract may send ether to the market (slashed collateral).
    /// @param sender The sender.
    error UnexpectedEther(address sender);

    /// @notice A call re-entered the contract.
    error Reentrancy();

    /// @notice Create a job, escrowing `msg.value` as its max fee.
    /// @param modelId A registered, non-deprecated model.
    /// @param inputCommitment Commitment to the private input, below r.
    /// @param collateral Wei the winning prover must lock.
    /// @param bidDeadline Last award timestamp (>= now).
    /// @param proofDeadline Last proof timestamp for the assigned prover (> bidDeadline).
    /// @return jobId The new job's id (a counter starting at 1).
    function createJob(
        uint256 modelId,
        uint256 inputCommitment,
        uint256 collateral,
        uint256 bidDeadline,
        uint256 proofDeadline
    ) external payable returns (uint256 jobId);

    /// @notice Award an Open job to a prover's signed bid (requester only, by the bid deadline).
    /// @param jobId The job.
    /// @param bid The prover's bid.
    /// @param signature The prover's 65-byte EIP-712 signature (r, s, v) over the bid.
    function awardJob(uint256 jobId, Bid calldata bid, bytes calldata signature) external;

    /// @notice Submit a Groth16 proof for an Awarded job (see the lifecycle for who and when).
    /// @param jobId The job.
    /// @param proof (a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y), EIP-197 order.
    /// @param outputs The public signals after the input commitment.
    function submitProof(uint256 jobId, uint256[8] calldata proof, uint256[] calldata outputs)
        external;

    /// @notice Slash an Awarded job whose rescue window has closed (anyone may call).
    /// @param jobId The job.
    function slash(uint256 jobId) external;

    /// @notice Cancel an Open job after its bid deadline (requester only): full refund.
    /// @param jobId The job.
    function cancelJob(uint256 jobId) external;

    /// @notice Pay the caller's whole balance.
    function withdraw() external;

    /// @notice A job.
    /// @param jobId The job.
    /// @return The record; reverts with UnknownJob for an unused id.
    function getJob(uint256 jobId) external view returns (Job memory);

    /// @notice An account's balance and counters.
    /// @param account The account.
    /// @return The record (all zero for an unknown account).
    function accountOf(address account) external view returns (Account memory);

    /// @notice Wei credited to an account and not yet withdrawn.
    /// @param account The account.
    /// @return Wei.
    function balanceOf(address account) external view returns (uint256);

    /// @notice A prover's counters.
    /// @param prover The prover.
    /// @return fulfilled Jobs proved (on time or as rescuer).
    /// @return slashed Jobs slashed.
    /// @return feesEarned Total fees credited.
    function proverStats(address prover)
        external
        view
        returns (uint256 fulfilled, uint256 slashed, uint256 feesEarned);

    /// @notice The EIP-712 digest a prover signs for `bid`.
    /// @param bid The bid.
    /// @return The digest.
    function bidDigest(Bid calldata bid) external view returns (bytes32);

    /// @notice The EIP-712 domain separator for the current chain.
    /// @return The separator.
    function domainSeparator() external view returns (bytes32);

    /// @notice The EIP-712 domain of bids (EIP-5267).
    /// @return fields 0x0f: name, version, chainId and verifyingContract are set.
    /// @return name "provernet JobMarket".
    /// @return version "1".
    /// @return chainId The current chain id.
    /// @return verifyingContract This market.
    /// @return salt Unused (zero).
    /// @return extensions Unused (empty).
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        );

    /// @notice The number of jobs created so far (also the highest id).
    /// @return The count.
    function jobCount() external view returns (uint256);

    /// @notice Seconds after the proof deadline during which another prover may rescue a job.
    /// @return Seconds.
    function rescueWindow() external view returns (uint256);
}
