// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The provernet job market interface
/// @notice Escrow and settlement of proving jobs. Lifecycle (times are block timestamps; a
/// deadline is the last second at which its holder may act, and the next second belongs to the
/// other side):
///
///   createJob (Open, max fee escrowed; no prover has anything at stake)
///     -> awardJob     requester, with a prover's EIP-712 bid over the job's terms, while
///                     now <= bid expiry; nothing is locked; the accept window starts:
///                     deadline = now + acceptWindow                              (Awarded)
///     -> cancelJob    requester: the whole escrow is credited back               (Cancelled)
///   Awarded
///     -> acceptJob    the assigned prover while now <= deadline, once it holds an input that
///                     matches the commitment and a satisfying witness: its collateral is locked
///                     and the proof window starts: deadline = now + proofWindow (Accepted)
///     -> awardJob / cancelJob   requester once now > deadline: the award lapsed; the prover
///                     loses nothing but one count of `lapsed`
///   Accepted
///     -> submitProof  the assigned prover only, while now <= deadline: fee to the prover, the
///                     rest of the escrow to the requester, collateral released  (Fulfilled)
///     -> slash        anyone once now > deadline: the collateral is burned in full and the job
///                     re-opens with its escrow intact, to be awarded again or cancelled (Open)
///
/// Who gains from a failure: nobody. A requester never receives more than its own escrow; slashed
/// collateral goes to the burn address, never to the requester, a rescuer or the caller of
/// `slash`, so no account anyone controls profits from a prover's failure, and no prover's
/// collateral is at risk before that prover chose to accept.
///
/// Bids are EIP-712 typed data: domain {name: "provernet JobMarket", version: "2", chainId,
/// verifyingContract: this market} (also reported by `eip712Domain`, EIP-5267), type
/// `Bid(uint256 jobId,address prover,uint256 fee,uint64 expiry,address requester,uint256 modelId,
/// uint256 inputCommitment,uint256 collateral,uint32 acceptWindow,uint32 proofWindow)`: the
/// prover's offer covers the job's terms as well as its price. Signatures are 65 bytes (r, s, v)
/// with v in {27, 28} and s in the lower half of the curve order (EIP-2).
///
/// Every payment is credited to a balance and paid out by `withdraw` (pull payments).
/// Invariant: the market's ether equals the escrow of unsettled (Open, Awarded, Accepted) jobs
/// plus all balances.
interface IJobMarket {
    /// @notice Where a job is in its lifecycle.
    enum JobStatus {
        None,
        Open,
        Awarded,
        Accepted,
        Fulfilled,
        Cancelled
    }

    /// @notice One job. Amounts in wei, times as unix timestamps, windows in seconds.
    /// @param requester Who created the job and escrowed the max fee.
    /// @param status Lifecycle state.
    /// @param deadline The accept deadline while Awarded, the proof deadline while Accepted, zero
    /// otherwise.
    /// @param acceptWindow Seconds from an award to its accept deadline.
    /// @param prover The assigned prover while Awarded or Accepted, and after Fulfilled.
    /// @param fee The assigned bid's fee (zero while Open).
    /// @param verifyingKey The model's key data contract, captured at creation.
    /// @param maxFee The escrow.
    /// @param collateral Stake the assigned prover locks when it accepts.
    /// @param modelId The registered model.
    /// @param proofWindow Seconds from acceptance to the proof deadline.
    /// @param inputCommitment Commitment to the private input: the first public signal.
    struct Job {
        address requester;
        JobStatus status;
        uint40 deadline;
        uint32 acceptWindow;
        address prover;
        uint96 fee;
        address verifyingKey;
        uint96 maxFee;
        uint96 collateral;
        uint64 modelId;
        uint32 proofWindow;
        uint256 inputCommitment;
    }

    /// @notice A prover's signed offer (EIP-712 type `Bid`): its price and the terms it read.
    /// @param jobId The job the offer is for.
    /// @param prover The signer, who will accept, lock collateral and prove.
    /// @param fee Wei asked.
    /// @param expiry Last timestamp at which the bid may be awarded.
    /// @param requester The job's requester.
    /// @param modelId The job's model.
    /// @param inputCommitment The job's input commitment.
    /// @param collateral The job's collateral.
    /// @param acceptWindow The job's accept window.
    /// @param proofWindow The job's proof window.
    struct Bid {
        uint256 jobId;
        address prover;
        uint256 fee;
        uint64 expiry;
        address requester;
        uint256 modelId;
        uint256 inputCommitment;
        uint256 collateral;
        uint32 acceptWindow;
        uint32 proofWindow;
    }

    /// @notice An account's balance and settlement record; one slot, written on the happy path.
    /// @param balance Wei credited and not yet withdrawn.
    /// @param feesEarned Total fees credited for accepted proofs (wraps silently past 2^96 wei,
    /// which is 600 times all the ether there is: a statistic never gates money).
    /// @param fulfilled Jobs this account proved.
    /// @param active Set by the account's first job or credit; keeps the slot non-zero so that
    /// later credits update a slot rather than create one (5,000 instead of 22,100 gas).
    struct Account {
        uint96 balance;
        uint96 feesEarned;
        uint56 fulfilled;
        bool active;
    }

    /// @notice A prover's failures; a slot of its own, off the happy path.
    /// @param lapsed Awards this prover did not accept in time.
    /// @param slashed Accepted jobs it did not prove in time.
    struct Penalties {
        uint64 lapsed;
        uint64 slashed;
    }

    /// @notice Emitted when a job is created.
    /// @param jobId The new job.
    /// @param requester Who created it.
    /// @param modelId The model to run.
    /// @param inputCommitment Commitment to the private input.
    /// @param maxFee Escrowed wei.
    /// @param collateral Collateral asked of the prover that accepts.
    /// @param acceptWindow Seconds an awarded prover has to accept.
    /// @param proofWindow Seconds an accepting prover has to prove.
    event JobCreated(
        uint256 indexed jobId,
        address indexed requester,
        uint256 indexed modelId,
        uint256 inputCommitment,
        uint256 maxFee,
        uint256 collateral,
        uint256 acceptWindow,
        uint256 proofWindow
    );

    /// @notice Emitted when the requester awards a job to a bid.
    /// @param jobId The job.
    /// @param prover The winning prover.
    /// @param fee The winning fee.
    /// @param acceptDeadline Last timestamp at which the prover may accept.
    event JobAwarded(
        uint256 indexed jobId, address indexed prover, uint256 fee, uint256 acceptDeadline
    );

    /// @notice Emitted when an award passed its accept deadline and was replaced or cancelled.
    /// @param jobId The job.
    /// @param prover The prover that did not accept.
    event AwardLapsed(uint256 indexed jobId, address indexed prover);

    /// @notice Emitted when the assigned prover accepts and its collateral is locked.
    /// @param jobId The job.
    /// @param prover The prover.
    /// @param proofDeadline Last timestamp at which its proof is taken.
    event JobAccepted(uint256 indexed jobId, address indexed prover, uint256 proofDeadline);

    /// @notice Emitted when a proof verifies and the job settles.
    /// @param jobId The job.
    /// @param prover The assigned prover, who is paid.
    /// @param outputs The public outputs (signals after the input commitment).
    event ProofAccepted(uint256 indexed jobId, address indexed prover, uint256[] outputs);

    /// @notice Emitted when an accepted job's proof deadline passed: the collateral was burned and
    /// the job re-opened.
    /// @param jobId The job.
    /// @param prover The slashed prover.
    /// @param collateral Wei burned.
    event ProverSlashed(uint256 indexed jobId, address indexed prover, uint256 collateral);

    /// @notice Emitted when the requester cancels a job and its escrow is credited back.
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

    /// @notice The model's key does not come from a finalized phase-2 ceremony (it was
    /// registered with registerModel), so whoever made the key could forge its proofs; it
    /// takes no jobs.
    /// @param modelId The model.
    error ModelNotFromCeremony(uint256 modelId);

    /// @notice The input commitment is not below the scalar field order r.
    /// @param inputCommitment The value given.
    error InputCommitmentOutOfField(uint256 inputCommitment);

    /// @notice createJob needs a positive max fee.
    error ZeroMaxFee();

    /// @notice An amount does not fit the 96-bit accounting fields.
    /// @param amount The amount.
    error AmountTooLarge(uint256 amount);

    /// @notice Windows must satisfy 0 < window <= MAX_WINDOW.
    /// @param acceptWindow The accept window given.
    /// @param proofWindow The proof window given.
    error BadWindows(uint256 acceptWindow, uint256 proofWindow);

    /// @notice Only the job's requester may do this.
    /// @param jobId The job.
    /// @param caller The account that tried.
    error NotRequester(uint256 jobId, address caller);

    /// @notice The job is not in the state this call needs.
    /// @param jobId The job.
    /// @param status Its state.
    error WrongStatus(uint256 jobId, JobStatus status);

    /// @notice The awarded prover may still accept until the accept deadline.
    /// @param jobId The job.
    /// @param acceptDeadline The deadline.
    error AcceptWindowOpen(uint256 jobId, uint256 acceptDeadline);

    /// @notice The accept deadline has passed.
    /// @param jobId The job.
    /// @param acceptDeadline The deadline.
    error AcceptDeadlinePassed(uint256 jobId, uint256 acceptDeadline);

    /// @notice The bid names another job.
    /// @param jobId The job being awarded.
    /// @param bidJobId The job in the bid.
    error BidForOtherJob(uint256 jobId, uint256 bidJobId);

    /// @notice The bid's terms differ from the job's.
    /// @param jobId The job.
    error BidTermsMismatch(uint256 jobId);

    /// @notice The bid has expired.
    /// @param expiry The bid's expiry.
    error BidExpired(uint256 expiry);

    /// @notice The bid's fee exceeds the job's max fee.
    /// @param fee The fee.
    /// @param maxFee The max fee.
    error FeeAboveMax(uint256 fee, uint256 maxFee);

    /// @notice The signature is not the bid's prover's signature over this chain and contract.
    error InvalidBidSignature();

    /// @notice Only the assigned prover may do this.
    /// @param jobId The job.
    /// @param caller The account that tried.
    error NotAssignedProver(uint256 jobId, address caller);

    /// @notice The proof deadline has passed.
    /// @param jobId The job.
    /// @param proofDeadline The deadline.
    error ProofDeadlinePassed(uint256 jobId, uint256 proofDeadline);

    /// @notice The proof deadline has not passed yet; the job cannot be slashed.
    /// @param jobId The job.
    /// @param proofDeadline The deadline.
    error ProofDeadlineNotPassed(uint256 jobId, uint256 proofDeadline);

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

    /// @notice A call re-entered the contract.
    error Reentrancy();

    /// @notice Create a job, escrowing `msg.value` as its max fee.
    /// @param modelId A registered, non-deprecated model finalized from a ceremony.
    /// @param inputCommitment Commitment to the private input, below r.
    /// @param collateral Wei the accepting prover must lock.
    /// @param acceptWindow Seconds an awarded prover has to accept (1..MAX_WINDOW).
    /// @param proofWindow Seconds an accepting prover has to prove (1..MAX_WINDOW).
    /// @return jobId The new job's id (a counter starting at 1).
    function createJob(
        uint256 modelId,
        uint256 inputCommitment,
        uint256 collateral,
        uint256 acceptWindow,
        uint256 proofWindow
    ) external payable returns (uint256 jobId);

    /// @notice Award an Open job, or one whose award lapsed, to a prover's signed bid (requester
    /// only, while the bid has not expired).
    /// @param jobId The job.
    /// @param bid The prover's bid.
    /// @param signature The prover's 65-byte EIP-712 signature (r, s, v) over the bid.
    function awardJob(uint256 jobId, Bid calldata bid, bytes calldata signature) external;

    /// @notice Accept an Awarded job by its accept deadline (assigned prover only): locks the
    /// collateral from the caller's stake and starts the proof window.
    /// @param jobId The job.
    function acceptJob(uint256 jobId) external;

    /// @notice Submit a Groth16 proof for an Accepted job (assigned prover only, by the deadline).
    /// @param jobId The job.
    /// @param proof (a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y), EIP-197 order.
    /// @param outputs The public signals after the input commitment.
    function submitProof(uint256 jobId, uint256[8] calldata proof, uint256[] calldata outputs)
        external;

    /// @notice Burn the collateral of an Accepted job past its proof deadline and re-open the job
    /// (anyone may call).
    /// @param jobId The job.
    function slash(uint256 jobId) external;

    /// @notice Cancel an Open job, or one whose award lapsed (requester only): full refund.
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

    /// @notice A prover's record on this market.
    /// @param prover The prover.
    /// @return fulfilled Jobs proved.
    /// @return slashed Accepted jobs not proved in time.
    /// @return lapsed Awards not accepted in time.
    /// @return feesEarned Total fees credited.
    function proverStats(address prover)
        external
        view
        returns (uint256 fulfilled, uint256 slashed, uint256 lapsed, uint256 feesEarned);

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
    /// @return version "2".
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
}
