// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IJobMarket} from "./IJobMarket.sol";
import {IModelRegistry} from "./IModelRegistry.sol";
import {IProverStaking} from "./IProverStaking.sol";
import {Groth16Verifier} from "./Groth16Verifier.sol";

/// @title The provernet job market
/// @notice Escrow and settlement of proving jobs; the lifecycle and the payout rules are in
/// IJobMarket. A job captures its model's verifying key at creation, so deprecating the model
/// later does not strand running jobs. State changes come before every external call, and every
/// external entry point that moves ether or calls out runs under a transient-storage guard.
contract JobMarket is IJobMarket {
    /// @notice The longest accept or proof window: a month is beyond any proof, and the bound keeps
    /// an award from holding a prover's capacity (or an acceptance its collateral) for years.
    uint256 public constant MAX_WINDOW = 30 days;

    /// @dev EIP-712 type hashes.
    bytes32 private constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    bytes32 private constant BID_TYPEHASH = keccak256(
        "Bid(uint256 jobId,address prover,uint256 fee,uint64 expiry,address requester,"
        "uint256 modelId,uint256 inputCommitment,uint256 collateral,uint32 acceptWindow,"
        "uint32 proofWindow)"
    );
    string private constant NAME = "provernet JobMarket";
    string private constant VERSION = "2";
    bytes32 private constant NAME_HASH = keccak256(bytes(NAME));
    bytes32 private constant VERSION_HASH = keccak256(bytes(VERSION));
    /// @dev secp256k1 group order / 2: signatures with a larger s are rejected (EIP-2).
    uint256 private constant HALF_ORDER =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    IModelRegistry private immutable _registry;
    IProverStaking private immutable _staking;

    uint256 private _jobCount;
    bool private transient _entered;
    mapping(uint256 jobId => Job) private _jobs;
    mapping(address account => Account) private _accounts;
    mapping(address prover => Penalties) private _penalties;

    /// @param registry_ The model registry.
    /// @param staking_ The staking contract (its market must be set to this contract).
    constructor(IModelRegistry registry_, IProverStaking staking_) {
        _registry = registry_;
        _staking = staking_;
    }

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    /// @inheritdoc IJobMarket
    function createJob(
        uint256 modelId,
        uint256 inputCommitment,
        uint256 collateral,
        uint256 acceptWindow,
        uint256 proofWindow
    ) external payable returns (uint256 jobId) {
        IModelRegistry.Model memory model = _registry.getModel(modelId);
        if (model.deprecated) revert ModelDeprecated(modelId);
        if (model.ceremonyId == 0) revert ModelNotFromCeremony(modelId);
        if (inputCommitment >= Groth16Verifier.R) revert InputCommitmentOutOfField(inputCommitment);
        if (msg.value == 0) revert ZeroMaxFee();
        if (msg.value > type(uint96).max) revert AmountTooLarge(msg.value);
        if (collateral > type(uint96).max) revert AmountTooLarge(collateral);
        if (
            acceptWindow == 0 || acceptWindow > MAX_WINDOW || proofWindow == 0
                || proofWindow > MAX_WINDOW
        ) revert BadWindows(acceptWindow, proofWindow);
        jobId = ++_jobCount;
        // Model ids are a registry counter (one per transaction), so they fit 64 bits.
        _jobs[jobId] = Job({
            requester: msg.sender,
            status: JobStatus.Open,
            deadline: 0,
            acceptWindow: uint32(acceptWindow),
            prover: address(0),
            fee: 0,
            verifyingKey: model.verifyingKey,
            maxFee: uint96(msg.value),
            collateral: uint96(collateral),
            modelId: uint64(modelId),
            proofWindow: uint32(proofWindow),
            inputCommitment: inputCommitment
        });
        _accounts[msg.sender].active = true;
        emit JobCreated(
            jobId,
            msg.sender,
            modelId,
            inputCommitment,
            msg.value,
            collateral,
            acceptWindow,
            proofWindow
        );
    }

    /// @inheritdoc IJobMarket
    function awardJob(uint256 jobId, Bid calldata bid, bytes calldata signature) external {
        Job storage job = _existing(jobId);
        if (job.requester != msg.sender) revert NotRequester(jobId, msg.sender);
        _endUnawardedOrLapsed(jobId, job);
        if (bid.jobId != jobId) revert BidForOtherJob(jobId, bid.jobId);
        if (block.timestamp > bid.expiry) revert BidExpired(bid.expiry);
        if (bid.fee > job.maxFee) revert FeeAboveMax(bid.fee, job.maxFee);
        if (
            bid.requester != msg.sender || bid.modelId != job.modelId
                || bid.inputCommitment != job.inputCommitment || bid.collateral != job.collateral
                || bid.acceptWindow != job.acceptWindow || bid.proofWindow != job.proofWindow
        ) revert BidTermsMismatch(jobId);
        address signer = _recover(_bidDigest(bid), signature);
        if (signer == address(0) || signer != bid.prover) revert InvalidBidSignature();
        uint256 acceptDeadline = block.timestamp + job.acceptWindow;
        job.status = JobStatus.Awarded;
        // block.timestamp + a window of at most 30 days fits 40 bits until the year 36812.
        job.deadline = uint40(acceptDeadline);
        job.prover = bid.prover;
        // bid.fee <= maxFee < 2^96, checked above.
        job.fee = uint96(bid.fee);
        emit JobAwarded(jobId, bid.prover, bid.fee, acceptDeadline);
    }

    /// @inheritdoc IJobMarket
    function acceptJob(uint256 jobId) external nonReentrant {
        Job storage job = _existing(jobId);
        if (job.status != JobStatus.Awarded) revert WrongStatus(jobId, job.status);
        if (msg.sender != job.prover) revert NotAssignedProver(jobId, msg.sender);
        if (block.timestamp > job.deadline) revert AcceptDeadlinePassed(jobId, job.deadline);
        uint256 proofDeadline = block.timestamp + job.proofWindow;
        job.status = JobStatus.Accepted;
        job.deadline = uint40(proofDeadline); // as in awardJob
        emit JobAccepted(jobId, msg.sender, proofDeadline);
        _staking.lockCollateral(msg.sender, job.collateral);
    }

    /// @inheritdoc IJobMarket
    function submitProof(uint256 jobId, uint256[8] calldata proof, uint256[] calldata outputs)
        external
        nonReentrant
    {
        Job storage job = _existing(jobId);
        Job memory j = job;
        if (j.status != JobStatus.Accepted) revert WrongStatus(jobId, j.status);
        if (msg.sender != j.prover) revert NotAssignedProver(jobId, msg.sender);
        if (block.timestamp > j.deadline) revert ProofDeadlinePassed(jobId, j.deadline);
        if (!Groth16Verifier.verify(j.verifyingKey, proof, j.inputCommitment, outputs)) {
            revert InvalidProof(jobId);
        }
        job.status = JobStatus.Fulfilled;
        job.deadline = 0;
        Account storage solver = _accounts[msg.sender];
        uint256 balance = uint256(solver.balance) + j.fee;
        if (balance > type(uint96).max) revert AmountTooLarge(balance);
        solver.balance = uint96(balance);
        // Statistics (see IJobMarket.Account): they never gate money, so they may wrap.
        unchecked {
            solver.feesEarned += j.fee;
            solver.fulfilled += 1;
        }
        solver.active = true;
        _credit(j.requester, j.maxFee - j.fee);
        emit ProofAccepted(jobId, msg.sender, outputs);
        _staking.releaseCollateral(msg.sender, j.collateral);
    }

    /// @inheritdoc IJobMarket
    function slash(uint256 jobId) external nonReentrant {
        Job storage job = _existing(jobId);
        Job memory j = job;
        if (j.status != JobStatus.Accepted) revert WrongStatus(jobId, j.status);
        if (block.timestamp <= j.deadline) revert ProofDeadlineNotPassed(jobId, j.deadline);
        job.status = JobStatus.Open;
        job.deadline = 0;
        job.prover = address(0);
        job.fee = 0;
        // One count per transaction: 2^64 of them cannot happen.
        unchecked {
            _penalties[j.prover].slashed += 1;
        }
        emit ProverSlashed(jobId, j.prover, j.collateral);
        _staking.slashCollateral(j.prover, j.collateral);
    }

    /// @inheritdoc IJobMarket
    function cancelJob(uint256 jobId) external {
        Job storage job = _existing(jobId);
        if (job.requester != msg.sender) revert NotRequester(jobId, msg.sender);
        _endUnawardedOrLapsed(jobId, job);
        job.status = JobStatus.Cancelled;
        job.deadline = 0;
        job.prover = address(0);
        job.fee = 0;
        _credit(msg.sender, job.maxFee);
        emit JobCancelled(jobId);
    }

    /// @inheritdoc IJobMarket
    function withdraw() external nonReentrant {
        Account storage account = _accounts[msg.sender];
        uint256 amount = account.balance;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        account.balance = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    /// @inheritdoc IJobMarket
    function getJob(uint256 jobId) external view returns (Job memory) {
        return _existing(jobId);
    }

    /// @inheritdoc IJobMarket
    function accountOf(address account) external view returns (Account memory) {
        return _accounts[account];
    }

    /// @inheritdoc IJobMarket
    function balanceOf(address account) external view returns (uint256) {
        return _accounts[account].balance;
    }

    /// @inheritdoc IJobMarket
    function proverStats(address prover)
        external
        view
        returns (uint256 fulfilled, uint256 slashed, uint256 lapsed, uint256 feesEarned)
    {
        Account memory a = _accounts[prover];
        Penalties memory p = _penalties[prover];
        return (a.fulfilled, p.slashed, p.lapsed, a.feesEarned);
    }

    /// @inheritdoc IJobMarket
    function bidDigest(Bid calldata bid) external view returns (bytes32) {
        return _bidDigest(bid);
    }

    /// @inheritdoc IJobMarket
    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this))
        );
    }

    /// @inheritdoc IJobMarket
    function eip712Domain()
        external
        view
        returns (bytes1, string memory, string memory, uint256, address, bytes32, uint256[] memory)
    {
        return (hex"0f", NAME, VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @inheritdoc IJobMarket
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    function _existing(uint256 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status == JobStatus.None) revert UnknownJob(jobId);
    }

    /// @dev The requester may act on an Open job, or on an award whose accept deadline passed
    /// (the lapse is recorded against its prover); anything else reverts.
    function _endUnawardedOrLapsed(uint256 jobId, Job storage job) private {
        JobStatus status = job.status;
        if (status == JobStatus.Open) return;
        if (status != JobStatus.Awarded) revert WrongStatus(jobId, status);
        if (block.timestamp <= job.deadline) revert AcceptWindowOpen(jobId, job.deadline);
        address prover = job.prover;
        // One count per transaction: 2^64 of them cannot happen.
        unchecked {
            _penalties[prover].lapsed += 1;
        }
        emit AwardLapsed(jobId, prover);
    }

    function _credit(address account, uint256 amount) private {
        Account storage a = _accounts[account];
        uint256 balance = uint256(a.balance) + amount;
        if (balance > type(uint96).max) revert AmountTooLarge(balance);
        a.balance = uint96(balance);
        a.active = true;
    }

    function _bidDigest(Bid calldata bid) private view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                BID_TYPEHASH,
                bid.jobId,
                bid.prover,
                bid.fee,
                bid.expiry,
                bid.requester,
                bid.modelId,
                bid.inputCommitment,
                bid.collateral,
                bid.acceptWindow,
                bid.proofWindow
            )
        );
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    /// @dev ecrecover over a 65-byte (r, s, v) signature; zero for a malformed or high-s one.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
