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
    struct Model {
        address owner;
        uint64 constraintCount;
        uint32 nPublic;
        bool deprecated;
        address verifyingKey;
        bytes32 onnxSha256;
        bytes32 circuitHash;
        bytes32 manifestHash;
    }

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

    /// @notice Register a model; the caller becomes its owner.
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

    /// @notice The number of models registered so far (also the highest id).
    /// @return The count.
    function modelCount() external view returns (uint256);
}
