// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The provernet model registry interface
/// @notice Anyone may register a compiled model: the ONNX file's sha256, the circuit's hash, the
/// Groth16 verifying key, the number of public signals, the constraint count (the pricing unit) and
/// the artifact manifest's hash. The registrant owns the entry and may deprecate it: a deprecated
/// model takes no new jobs, while jobs already created finish against the key they captured.
///
/// Model ids are a counter starting at 1 (0 never names a model).
///
/// A model's key should come from a phase-2 ceremony recorded here, so that no single party
/// holds its toxic waste: the coordinator opens a ceremony on the circuit, the phase-1 file
/// and the initial key (derived from those two alone); anyone records contributions in order
/// during the window, each naming the key it builds on (a stale one is refused, so racing
/// contributors rebase); after the window anyone closes the ceremony, fixing the next block's
/// hash as the beacon nobody knew while contributing; the coordinator then registers the model
/// from the final key (finalizeCeremony). Nodes check the final key's transcript against this
/// record (contribution hashes in order, the beacon last, the key derived from the phase-1 file
/// and the circuit) before they use the model. registerModel, without a ceremony, only publishes
/// a key (for verifiers that establish its provenance elsewhere): the job market refuses jobs
/// for it (ModelNotFromCeremony), since whoever made its key could forge its proofs.
///
/// The verifying key is stored as the code of a data contract (first byte 0x00, a STOP, so the
/// contract cannot be called) and read back with EXTCODECOPY. Its layout after that byte, as
/// 32-byte big-endian words in EIP-197 order (each Fq2 element as imaginary part c1, then real
/// part c0):
///
///   alpha_g1 (x, y) | beta_g2 (x.c1, x.c0, y.c1, y.c0) | gamma_g2 (4 words) | delta_g2 (4 words)
///   | gamma_abc_g1[0 .. nPublic] (x, y each)
///
/// that is 448 + 64 * (nPublic + 1) bytes.
interface IModelRegistry {
    /// @notice One registered model.
    /// @param owner The registrant; the only account that may deprecate the model.
    /// @param verifyingKey The data contract holding the encoded verifying key.
    /// @param nPublic Public signals of the circuit: the input commitment, then the outputs.
    /// @param constraintCount Constraints in the circuit, the unit provers price work in.
    /// @param deprecated True once the owner has deprecated the model.
    /// @param onnxSha256 sha256 of the ONNX file.
    /// @param circuitHash Hash of the compiled circuit (R1CS).
    /// @param manifestHash Hash of the artifact manifest (proving key, circuit, metadata).
    /// @param ceremonyId The phase-2 ceremony the key comes from (0: none, registerModel).
    /// @param beacon The ceremony's beacon (its beacon block's hash), fixed at finalization.
    /// @param finalKeySha256 sha256 of the final key file: the last recorded contribution's
    /// key with the beacon contribution applied.
    struct Model {
        address owner;
        uint64 constraintCount;
        uint32 nPublic;
        bool deprecated;
        address verifyingKey;
        bytes32 onnxSha256;
        bytes32 circuitHash;
        bytes32 manifestHash;
        uint256 ceremonyId;
        bytes32 beacon;
        bytes32 finalKeySha256;
    }

    /// @notice One phase-2 ceremony: an ordered, append-only record of contributions to a
    /// circuit's Groth16 key, from an initial key derived from a public phase 1.
    /// @param coordinator The account that opened it.
    /// @param contributionDeadline Contributions are recorded while block.timestamp is at most
    /// this.
    /// @param beaconBlock The block whose hash is the final, public contribution's beacon; 0
    /// until the ceremony is closed.
    /// @param contributions Contributions recorded so far.
    /// @param included How many of them, from the first, the final key is built on (set at
    /// finalization).
    /// @param circuitHash Hash of the compiled circuit (R1CS) the key is for.
    /// @param phase1Sha256 sha256 of the phase-1 (.ptau) file the initial key comes from.
    /// @param initialKeySha256 sha256 of the initial phase-2 key (.zkey) file.
    /// @param latestKeySha256 sha256 of the key the next contribution must build on.
    /// @param transcript keccak256 chain over every contribution: starts at initialKeySha256,
    /// then keccak256(abi.encode(transcript, contributor, keySha256, contributionHash)).
    /// @param modelId The model finalized from it (0: not finalized yet).
    struct Ceremony {
        address coordinator;
        uint64 contributionDeadline;
        uint64 beaconBlock;
        uint32 contributions;
        uint32 included;
        bytes32 circuitHash;
        bytes32 phase1Sha256;
        bytes32 initialKeySha256;
        bytes32 latestKeySha256;
        bytes32 transcript;
        uint256 modelId;
    }

    /// @notice Emitted when a ceremony is opened.
    /// @param ceremonyId The new ceremony's id.
    /// @param coordinator The account that opened it.
    /// @param circuitHash Hash of the circuit.
    /// @param phase1Sha256 sha256 of the phase-1 file.
    /// @param initialKeySha256 sha256 of the initial key file.
    /// @param contributionDeadline Last timestamp at which a contribution is recorded.
    /// @param name The coordinator's name for the model (at most MAX_NAME_BYTES bytes);
    /// contributors find the ceremony by it, and the finalized model carries it.
    event CeremonyOpened(
        uint256 indexed ceremonyId,
        address indexed coordinator,
        bytes32 indexed circuitHash,
        bytes32 phase1Sha256,
        bytes32 initialKeySha256,
        uint64 contributionDeadline,
        string name
    );

    /// @notice Emitted for every recorded contribution.
    /// @param ceremonyId The ceremony.
    /// @param index The contribution's position, from 1.
    /// @param contributor The account that recorded it.
    /// @param predecessorSha256 sha256 of the key it builds on.
    /// @param keySha256 sha256 of the key it produced (served by the contributor).
    /// @param contributionHash The 64-byte BLAKE2b contribution hash the key's transcript holds.
    event ContributionRecorded(
        uint256 indexed ceremonyId,
        uint32 indexed index,
        address indexed contributor,
        bytes32 predecessorSha256,
        bytes32 keySha256,
        bytes contributionHash
    );

    /// @notice Emitted when a ceremony stops taking contributions and fixes its beacon block.
    /// @param ceremonyId The ceremony.
    /// @param beaconBlock The block whose hash will be the beacon.
    event CeremonyClosed(uint256 indexed ceremonyId, uint64 beaconBlock);

    /// @notice Emitted when a model is registered.
    /// @param modelId The new model's id.
    /// @param owner The registrant.
    /// @param onnxSha256 sha256 of the ONNX file.
    /// @param circuitHash Hash of the compiled circuit.
    /// @param manifestHash Hash of the artifact manifest.
    /// @param verifyingKey The data contract holding the verifying key.
    /// @param nPublic Number of public signals.
    /// @param constraintCount Number of constraints.
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 indexed onnxSha256,
        bytes32 circuitHash,
        bytes32 manifestHash,
        address verifyingKey,
        uint32 nPublic,
        uint64 constraintCount
    );

    /// @notice Emitted when a model's owner deprecates it.
    /// @param modelId The deprecated model.
    event ModelDeprecated(uint256 indexed modelId);

    /// @notice No model has this id.
    /// @param modelId The id asked for.
    error UnknownModel(uint256 modelId);

    /// @notice Only the model's owner may do this.
    /// @param modelId The model.
    /// @param caller The account that tried.
    error NotModelOwner(uint256 modelId, address caller);

    /// @notice The model is already deprecated.
    /// @param modelId The model.
    error ModelAlreadyDeprecated(uint256 modelId);

    /// @notice A circuit must have between 1 and MAX_PUBLIC_SIGNALS public signals.
    /// @param nPublic The number given.
    error BadPublicSignalCount(uint256 nPublic);

    /// @notice The encoded key's length does not match the number of public signals.
    /// @param expected 448 + 64 * (nPublic + 1).
    /// @param actual The length given.
    error BadKeyLength(uint256 expected, uint256 actual);

    /// @notice A key coordinate is not a canonical base-field element (it is >= p).
    /// @param wordIndex The offending 32-byte word of the encoded key.
    error KeyCoordinateOutOfField(uint256 wordIndex);

    /// @notice A point of the key is the point at infinity (all its words zero).
    /// @param pointIndex 0 alpha, 1 beta, 2 gamma, 3 delta, then 4 + i for gamma_abc[i].
    error KeyPointAtInfinity(uint256 pointIndex);

    /// @notice gamma equals delta: the public key alone would let anyone forge proofs.
    error GammaEqualsDelta();

    /// @notice delta is the G2 generator: the key has no phase-2 contribution.
    error DeltaIsGenerator();

    /// @notice Deploying the key's data contract failed.
    error KeyStorageFailed();

    /// @notice Emitted when a ceremony's coordinator registers the model from its final key.
    /// @param ceremonyId The ceremony.
    /// @param modelId The registered model.
    /// @param included How many recorded contributions the final key includes.
    /// @param beacon The beacon the final contribution is derived from.
    /// @param finalKeySha256 sha256 of the final key file.
    event CeremonyFinalized(
        uint256 indexed ceremonyId,
        uint256 indexed modelId,
        uint32 included,
        bytes32 beacon,
        bytes32 finalKeySha256
    );

    /// @notice Only the ceremony's coordinator may finalize it.
    /// @param ceremonyId The ceremony.
    /// @param caller The account that tried.
    error NotCoordinator(uint256 ceremonyId, address caller);

    /// @notice The ceremony has already been finalized.
    /// @param ceremonyId The ceremony.
    /// @param modelId The model registered from it.
    error AlreadyFinalized(uint256 ceremonyId, uint256 modelId);

    /// @notice No ceremony has this id.
    /// @param ceremonyId The id asked for.
    error UnknownCeremony(uint256 ceremonyId);

    /// @notice A ceremony's name must be 1 to MAX_NAME_BYTES bytes.
    /// @param length The name's length in bytes.
    error BadName(uint256 length);

    /// @notice A contribution window must be at most MAX_CONTRIBUTION_WINDOW seconds.
    /// @param window The window given.
    error BadContributionWindow(uint256 window);

    /// @notice A key hash must be nonzero and differ from its predecessor's.
    error BadKeyHash();

    /// @notice A contribution hash is 64 bytes (BLAKE2b-512).
    /// @param length The length given.
    error BadContributionHash(uint256 length);

    /// @notice The contribution builds on a key that is no longer the latest: fetch the latest
    /// key, contribute to it and record again.
    /// @param latestKeySha256 The key to build on now.
    error StalePredecessor(bytes32 latestKeySha256);

    /// @notice The ceremony takes no more contributions.
    /// @param ceremonyId The ceremony.
    error ContributionsClosed(uint256 ceremonyId);

    /// @notice The contribution window has not ended yet.
    /// @param contributionDeadline The window's last second.
    error ContributionsOpen(uint64 contributionDeadline);

    /// @notice The ceremony is closed and its beacon block's hash is still readable.
    /// @param beaconBlock The beacon block.
    error AlreadyClosed(uint64 beaconBlock);

    /// @notice The beacon block is not mined yet, or is over 256 blocks old (close again).
    /// @param beaconBlock The beacon block (0: the ceremony is not closed).
    error BeaconUnavailable(uint64 beaconBlock);

    /// @notice A finalization names more contributions than were recorded.
    /// @param included Contributions named.
    /// @param recorded Contributions recorded.
    error UnrecordedContributions(uint256 included, uint256 recorded);

    /// @notice Open a phase-2 ceremony for a circuit; the caller becomes its coordinator.
    /// @param circuitHash Hash of the compiled circuit.
    /// @param phase1Sha256 sha256 of the phase-1 file.
    /// @param initialKeySha256 sha256 of the initial key file (served by the coordinator).
    /// @param contributionWindow Seconds from now during which contributions are recorded.
    /// @param name The model's name (1 to MAX_NAME_BYTES bytes), emitted, not stored: names
    /// are labels, not unique; nodes resolve a name only when one ceremony or model has it.
    /// @return ceremonyId The new ceremony's id (a counter from 1).
    function openCeremony(
        bytes32 circuitHash,
        bytes32 phase1Sha256,
        bytes32 initialKeySha256,
        uint64 contributionWindow,
        string calldata name
    ) external returns (uint256 ceremonyId);

    /// @notice Record a contribution built on the latest key. Anyone may contribute.
    /// @param ceremonyId The ceremony.
    /// @param predecessorSha256 sha256 of the key contributed to; must be the latest.
    /// @param keySha256 sha256 of the new key.
    /// @param contributionHash The 64-byte contribution hash in the new key's transcript.
    function contribute(
        uint256 ceremonyId,
        bytes32 predecessorSha256,
        bytes32 keySha256,
        bytes calldata contributionHash
    ) external;

    /// @notice After the contribution window, fix the beacon block (the next block). Anyone
    /// may close; a ceremony whose beacon block hash has expired may be closed again.
    /// @param ceremonyId The ceremony.
    function closeCeremony(uint256 ceremonyId) external;

    /// @notice Register the model whose key is the ceremony's final key: the key of the
    /// first `included` recorded contributions with the beacon contribution (beaconOf)
    /// applied. Coordinator only, once, after closeCeremony while the beacon is readable.
    /// A coordinator may leave out a suffix of contributions it could not obtain or verify
    /// (a contributor that recorded a key and never served it cannot stall the ceremony);
    /// nodes show which contributors a key includes. The registry cannot check the key
    /// against the transcript; every node does before it serves, bids on or submits a job
    /// for the model, and refuses a key whose transcript differs from the recorded one.
    /// @param ceremonyId The ceremony.
    /// @param included How many recorded contributions, from the first, the key includes.
    /// @param finalKeySha256 sha256 of the final key file.
    /// @param onnxSha256 sha256 of the ONNX file.
    /// @param manifestHash Hash of the artifact manifest.
    /// @param nPublic Number of public signals.
    /// @param constraintCount Number of constraints.
    /// @param verifyingKey The encoded final verifying key.
    /// @return modelId The new model's id.
    function finalizeCeremony(
        uint256 ceremonyId,
        uint32 included,
        bytes32 finalKeySha256,
        bytes32 onnxSha256,
        bytes32 manifestHash,
        uint32 nPublic,
        uint64 constraintCount,
        bytes calldata verifyingKey
    ) external returns (uint256 modelId);

    /// @notice A ceremony's record.
    /// @param ceremonyId The ceremony.
    /// @return The record; reverts with UnknownCeremony for an unused id.
    function getCeremony(uint256 ceremonyId) external view returns (Ceremony memory);

    /// @notice The beacon of a closed ceremony: the hash of its beacon block.
    /// @param ceremonyId The ceremony.
    /// @return The block hash; reverts with BeaconUnavailable when it cannot be read.
    function beaconOf(uint256 ceremonyId) external view returns (bytes32);

    /// @notice Register a model without a ceremony; the caller becomes its owner. The job
    /// market creates no jobs for it: use a ceremony (openCeremony .. finalizeCeremony).
    /// @param onnxSha256 sha256 of the ONNX file.
    /// @param circuitHash Hash of the compiled circuit.
    /// @param manifestHash Hash of the artifact manifest.
    /// @param nPublic Number of public signals (input commitment plus outputs).
    /// @param constraintCount Number of constraints.
    /// @param verifyingKey The encoded verifying key (layout above).
    /// @return modelId The new model's id.
    function registerModel(
        bytes32 onnxSha256,
        bytes32 circuitHash,
        bytes32 manifestHash,
        uint32 nPublic,
        uint64 constraintCount,
        bytes calldata verifyingKey
    ) external returns (uint256 modelId);

    /// @notice Deprecate a model: no new jobs; running jobs finish. Owner only.
    /// @param modelId The model.
    function deprecateModel(uint256 modelId) external;

    /// @notice A registered model.
    /// @param modelId The model.
    /// @return The model's record; reverts with UnknownModel for an unused id.
    function getModel(uint256 modelId) external view returns (Model memory);

    /// @notice The encoded verifying key of a model, as registered.
    /// @param modelId The model.
    /// @return The key bytes (layout above).
    function verifyingKeyOf(uint256 modelId) external view returns (bytes memory);

    /// @notice The number of ceremonies opened so far (also the highest id).
    /// @return The count.
    function ceremonyCount() external view returns (uint256);

    /// @notice The number of models registered so far (also the highest id).
    /// @return The count.
    function modelCount() external view returns (uint256);
}
