// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IJobMarket} from "./IJobMarket.sol";
import {IModelRegistry} from "./IModelRegistry.sol";
import {IProverStaking} from "./IProverStaking.sol";
import {Groth16Verifier} from "./Groth16Verifier.sol";

/// @title The provernet job market
/// @notice Escrow and settlement of proving jobs; the lifecycle and the payout rules are in
/// IJobMarket. A job captures its model's verifying key at creation, so deprecating the model
/// later does not strand running jobs. State changes come before every external call, and
/// every external entry point that moves ether or calls out runs under a transient-storage guard.
contract JobMarket is IJobMarket {
    /// @dev EIP-712 type hashes.
    bytes32 private constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    bytes32 private constant BID_TYPEHASH =
        keccak256("Bid(uint256 jobId,address prover,uint256 fee,uint64 expiry)");
    string private constant NAME = "provernet JobMarket";
    string private constant VERSION = "1";
    bytes32 private constant NAME_HASH = keccak256(bytes(NAME));
    bytes32 private constant VERSION_HASH = keccak256(bytes(VERSION));
    /// @dev secp256k1 group order / 2: signatures with a larger s are rejected (EIP-2).
    uint256 private constant HALF_ORDER =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    IModelRegistry private immutable _registry;
    IProverStaking private immutable _staking;
    uint256 private immutable _rescueWindow;

    uint256 private _jobCount;
    bool private transient _entered;
    mapping(uint256 jobId => Job) private _jobs;
    mapping(address account => Account) private _accounts;

    /// @param registry_ The model registry.
    /// @param staking_ The staking contract (its market must be set to this contract).
    /// @param rescueWindow_ Seconds after a proof deadline during which others may rescue a job.
    constructor(IModelRegistry registry_, IProverStaking staking_, uint256 rescueWindow_) {
        _registry = registry_;
        _staking = staking_;
        _rescueWindow = rescueWindow_;
    }

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    /// @notice Accepts slashed collateral from the staking contract only.
    receive() external payable {
        if (msg.sender != address(_staking)) revert UnexpectedEther(msg.sender);
    }

    /// @inheritdoc IJobMarket
    function createJob(
        uint256 modelId,
        uint256 inputCommitment,
        uint256 collateral,
        uint256 bidDeadline,
        uint256 proofDeadline
    ) external payable returns (uint256 jobId) {
        IModelRegistry.Model memory model = _registry.getModel(modelId);
        if (model.deprecated) revert ModelDeprecated(modelId);
        if (inputCommitment >= Groth16Verifier.R) revert InputCommitmentOutOfField(inputCommitment);
        if (msg.value == 0) revert ZeroMaxFee();
        if (msg.value > type(uint96).max) revert AmountTooLarge(msg.value);
        if (collateral > type(uint96).max) revert AmountTooLarge(collateral);
        if (
            bidDeadline < block.timestamp || proofDeadline <= bidDeadline
                || proofDeadline > type(uint40).max
        ) revert BadDeadlines(bidDeadline, proofDeadline);
        jobId = ++_jobCount;
        _jobs[jobId] = Job({
            requester: msg.sender,
            bidDeadline: uint40(bidDeadline),
            proofDeadline: uint40(proofDeadline),
            status: JobStatus.Open,
            prover: address(0),
            fee: 0,
            verifyingKey: model.verifyingKey,
            maxFee: uint96(msg.value),
            collateral: uint96(collateral),
            modelId: uint64(modelId),
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
            bidDeadline,
            proofDeadline
        );
    }

    /// @inheritdoc IJobMarket
    function awardJob(uint256 jobId, Bid calldata bid, bytes calldata signature)
        external
        nonReentrant
    {
        Job storage job = _existing(jobId);
        if (job.requester != msg.sender) revert NotRequester(jobId, msg.sender);
        if (job.status != JobStatus.Open) revert WrongStatus(jobId, job.status);
        if (block.timestamp > job.bidDeadline) revert BidDeadlinePassed(jobId, job.bidDeadline);
        if (bid.jobId != jobId) revert BidForOtherJob(jobId, bid.jobId);
        if (block.timestamp > bid.expiry) revert BidExpired(bid.expiry);
        if (bid.fee > job.maxFee) revert FeeAboveMax(bid.fee, job.maxFee);
        address signer = _recover(_bidDigest(bid), signature);
        if (signer == address(0) || signer != bid.prover) revert InvalidBidSignature();
        job.status = JobStatus.Awarded;
        job.prover = bid.prover;
        // bid.fee <= maxFee < 2^96, checked above.
        job.fee = uint96(bid.fee);
        emit JobAwarded(jobId, bid.prover, bid.fee);
        _staking.lockCollateral(bid.prover, job.collateral);
    }

    /// @inheritdoc IJobMarket
    function submitProof(uint256 jobId, uint256[8] calldata proof, uint256[] calldata outputs)
        external
        nonReentrant
    {
        Job storage job = _existing(jobId);
        Job memory j = job;
        if (j.status != JobStatus.Awarded) revert WrongStatus(jobId, j.status);
        bool rescued = block.timestamp > j.proofDeadline;
        if (!rescued) {
            if (msg.sender != j.prover) revert NotAssignedProver(jobId, msg.sender);
        } else {
            if (msg.sender == j.prover) revert ProofDeadlinePassed(jobId, j.proofDeadline);
            if (block.timestamp > j.proofDeadline + _rescueWindow) revert RescueWindowClosed(jobId);
            (uint256 stake,) = _staking.stakeOf(msg.sender);
            if (stake == 0) revert NotStaked(msg.sender);
        }
        if (!Groth16Verifier.verify(j.verifyingKey, proof, j.inputCommitment, outputs)) {
            revert InvalidProof(jobId);
        }
        job.status = rescued ? JobStatus.Rescued : JobStatus.Fulfilled;
        Account storage solver = _accounts[msg.sender];
        solver.fulfilled += 1;
        solver.feesEarned += j.fee;
        solver.active = true;
        if (!rescued) {
            solver.balance += j.fee;
            _credit(j.requester, j.maxFee - j.fee);
            emit ProofAccepted(jobId, msg.sender, false, outputs);
            _staking.releaseCollateral(j.prover, j.collateral);
        } else {
            // Half the collateral (rounded down) to the rescuer, the rest to the requester.
            uint96 half = j.collateral / 2;
            solver.balance += j.fee + half;
            _credit(j.requester, j.maxFee - j.fee + (j.collateral - half));
            _accounts[j.prover].slashed += 1;
            emit ProofAccepted(jobId, msg.sender, true, outputs);
            emit ProverSlashed(jobId, j.prover, j.collateral);
            _staking.slashCollateral(j.prover, j.collateral);
        }
    }

    /// @inheritdoc IJobMarket
    function slash(uint256 jobId) external nonReentrant {
        Job storage job = _existing(jobId);
        Job memory j = job;
        if (j.status != JobStatus.Awarded) revert WrongStatus(jobId, j.status);
        uint256 slashableAfter = uint256(j.proofDeadline) + _rescueWindow;
        if (block.timestamp <= slashableAfter) revert RescueWindowOpen(jobId, slashableAfter);
        job.status = JobStatus.Slashed;
        _credit(j.requester, uint256(j.maxFee) + j.collateral);
        _accounts[j.prover].slashed += 1;
        emit ProverSlashed(jobId, j.prover, j.collateral);
        _staking.slashCollateral(j.prover, j.collateral);
    }

    /// @inheritdoc IJobMarket
    function cancelJob(uint256 jobId) external nonReentrant {
        Job storage job = _existing(jobId);
        if (job.requester != msg.sender) revert NotRequester(jobId, msg.sender);
        if (job.status != JobStatus.Open) revert WrongStatus(jobId, job.status);
        if (block.timestamp <= job.bidDeadline) {
            revert BidDeadlineNotPassed(jobId, job.bidDeadline);
        }
        job.status = JobStatus.Cancelled;
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
        returns (uint256 fulfilled, uint256 slashed, uint256 feesEarned)
    {
        Account memory a = _accounts[prover];
        return (a.fulfilled, a.slashed, a.feesEarned);
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

    /// @inheritdoc IJobMarket
    function rescueWindow() external view returns (uint256) {
        return _rescueWindow;
    }

    function _existing(uint256 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status == JobStatus.None) revert UnknownJob(jobId);
    }

    function _credit(address account, uint256 amount) private {
        Account storage a = _accounts[account];
        uint256 balance = uint256(a.balance) + amount;
        if (balance > type(uint96).max) revert AmountTooLarge(balance);
        a.balance = uint96(balance);
        a.active = true;
    }

    function _bidDigest(Bid calldata bid) private view returns (bytes32) {
        bytes32 structHash =
            keccak256(abi.encode(BID_TYPEHASH, bid.jobId, bid.prover, bid.fee, bid.expiry));
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
