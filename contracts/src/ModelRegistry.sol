// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IModelRegistry} from "./IModelRegistry.sol";
import {Groth16Verifier} from "./Groth16Verifier.sol";

/// @title The provernet model registry
/// @notice Permissionless model registration; see IModelRegistry for the key layout and ids.
/// Registration checks the key's length, that every coordinate is below p, and refuses the
/// degenerate keys that let anyone forge: a point at infinity, gamma equal to delta, or delta the
/// G2 generator (a key no phase-2 contribution touched). gamma is the G2 generator in every
/// snarkjs key, which is sound (Bowe-Gabizon-Miers 2017) and therefore accepted. Whether the
/// points lie on the curve is checked by the precompiles at verification time, so a registrant
/// who stores garbage only gets a model no proof verifies against. Provers check a model's key
/// off-chain before bidding on its jobs.
contract ModelRegistry is IModelRegistry {
    /// @notice Most public signals a key may have: EIP-170 caps contract code at 24,576 bytes,
    /// and 1 + 448 + 64 * (n + 1) <= 24,576 gives n <= 375.
    uint256 public constant MAX_PUBLIC_SIGNALS = 375;

    // The G2 generator in the key's word order (x.c1, x.c0, y.c1, y.c0).
    uint256 private constant G2_X1 =
        11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 private constant G2_X0 =
        10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 private constant G2_Y1 =
        4082367875863433681332203403145435568316851327593401208105741076214120093531;
    uint256 private constant G2_Y0 =
        8495653923123431417604973247489272438418190587263600148770280649306958101930;

    /// @notice Longest contribution window a ceremony may set (30 days).
    uint64 public constant MAX_CONTRIBUTION_WINDOW = 30 days;
    /// @notice The longest ceremony name, in bytes.
    uint256 public constant MAX_NAME_BYTES = 64;

    uint256 private _modelCount;
    mapping(uint256 modelId => Model) private _models;
    uint256 private _ceremonyCount;
    mapping(uint256 ceremonyId => Ceremony) private _ceremonies;

    /// @inheritdoc IModelRegistry
    function registerModel(
        bytes32 onnxSha256,
        bytes32 circuitHash,
        bytes32 manifestHash,
        uint32 nPublic,
        uint64 constraintCount,
        bytes calldata verifyingKey
    ) external returns (uint256 modelId) {
        modelId = _register(
            onnxSha256, circuitHash, manifestHash, nPublic, constraintCount, verifyingKey
        );
    }

    /// @inheritdoc IModelRegistry
    function finalizeCeremony(
        uint256 ceremonyId,
        uint32 included,
        bytes32 finalKeySha256,
        bytes32 onnxSha256,
        bytes32 manifestHash,
        uint32 nPublic,
        uint64 constraintCount,
        bytes calldata verifyingKey
    ) external returns (uint256 modelId) {
        Ceremony storage c = _ceremony(ceremonyId);
        if (c.coordinator != msg.sender) revert NotCoordinator(ceremonyId, msg.sender);
        if (c.modelId != 0) revert AlreadyFinalized(ceremonyId, c.modelId);
        if (included > c.contributions) revert UnrecordedContributions(included, c.contributions);
        if (finalKeySha256 == bytes32(0) || finalKeySha256 == c.latestKeySha256) {
            revert BadKeyHash();
        }
        bytes32 beacon = beaconOf(ceremonyId);
        modelId = _register(
            onnxSha256, c.circuitHash, manifestHash, nPublic, constraintCount, verifyingKey
        );
        c.modelId = modelId;
        c.included = included;
        Model storage model = _models[modelId];
        model.ceremonyId = ceremonyId;
        model.beacon = beacon;
        model.finalKeySha256 = finalKeySha256;
        emit CeremonyFinalized(ceremonyId, modelId, included, beacon, finalKeySha256);
    }

    function _register(
        bytes32 onnxSha256,
        bytes32 circuitHash,
        bytes32 manifestHash,
        uint32 nPublic,
        uint64 constraintCount,
        bytes calldata verifyingKey
    ) private returns (uint256 modelId) {
        if (nPublic == 0 || nPublic > MAX_PUBLIC_SIGNALS) revert BadPublicSignalCount(nPublic);
        uint256 expected = Groth16Verifier.KEY_FIXED_BYTES + 64 * (uint256(nPublic) + 1);
        if (verifyingKey.length != expected) revert BadKeyLength(expected, verifyingKey.length);
        for (uint256 i = 0; i < expected / 32; ++i) {
            if (uint256(bytes32(verifyingKey[i * 32:i * 32 + 32])) >= Groth16Verifier.P) {
                revert KeyCoordinateOutOfField(i);
            }
        }
        _refuseDegenerate(verifyingKey, nPublic);
        address keyContract = _storeData(verifyingKey);
        modelId = ++_modelCount;
        Model storage model = _models[modelId];
        model.owner = msg.sender;
        model.constraintCount = constraintCount;
        model.nPublic = nPublic;
        model.verifyingKey = keyContract;
        model.onnxSha256 = onnxSha256;
        model.circuitHash = circuitHash;
        model.manifestHash = manifestHash;
        emit ModelRegistered(
            modelId,
            msg.sender,
            onnxSha256,
            circuitHash,
            manifestHash,
            keyContract,
            nPublic,
            constraintCount
        );
    }

    /// @inheritdoc IModelRegistry
    function deprecateModel(uint256 modelId) external {
        Model storage model = _existing(modelId);
        if (model.owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
        if (model.deprecated) revert ModelAlreadyDeprecated(modelId);
        model.deprecated = true;
        emit ModelDeprecated(modelId);
    }

    /// @inheritdoc IModelRegistry
    function openCeremony(
        bytes32 circuitHash,
        bytes32 phase1Sha256,
        bytes32 initialKeySha256,
        uint64 contributionWindow,
        string calldata name
    ) external returns (uint256 ceremonyId) {
        if (bytes(name).length == 0 || bytes(name).length > MAX_NAME_BYTES) {
            revert BadName(bytes(name).length);
        }
        if (contributionWindow > MAX_CONTRIBUTION_WINDOW) {
            revert BadContributionWindow(contributionWindow);
        }
        if (initialKeySha256 == bytes32(0)) revert BadKeyHash();
        uint64 deadline = uint64(block.timestamp) + contributionWindow;
        ceremonyId = ++_ceremonyCount;
        _ceremonies[ceremonyId] = Ceremony({
            coordinator: msg.sender,
            contributionDeadline: deadline,
            beaconBlock: 0,
            contributions: 0,
            included: 0,
            circuitHash: circuitHash,
            phase1Sha256: phase1Sha256,
            initialKeySha256: initialKeySha256,
            latestKeySha256: initialKeySha256,
            transcript: initialKeySha256,
            modelId: 0
        });
        emit CeremonyOpened(
            ceremonyId, msg.sender, circuitHash, phase1Sha256, initialKeySha256, deadline, name
        );
    }

    /// @inheritdoc IModelRegistry
    function contribute(
        uint256 ceremonyId,
        bytes32 predecessorSha256,
        bytes32 keySha256,
        bytes calldata contributionHash
    ) external {
        Ceremony storage c = _ceremony(ceremonyId);
        if (c.beaconBlock != 0 || block.timestamp > c.contributionDeadline) {
            revert ContributionsClosed(ceremonyId);
        }
        if (predecessorSha256 != c.latestKeySha256) revert StalePredecessor(c.latestKeySha256);
        if (keySha256 == bytes32(0) || keySha256 == predecessorSha256) revert BadKeyHash();
        if (contributionHash.length != 64) revert BadContributionHash(contributionHash.length);
        uint32 index = ++c.contributions;
        c.latestKeySha256 = keySha256;
        c.transcript = keccak256(abi.encode(c.transcript, msg.sender, keySha256, contributionHash));
        emit ContributionRecorded(
            ceremonyId, index, msg.sender, predecessorSha256, keySha256, contributionHash
        );
    }

    /// @inheritdoc IModelRegistry
    function closeCeremony(uint256 ceremonyId) external {
        Ceremony storage c = _ceremony(ceremonyId);
        if (block.timestamp <= c.contributionDeadline) {
            revert ContributionsOpen(c.contributionDeadline);
        }
        if (c.beaconBlock != 0 && block.number <= uint256(c.beaconBlock) + 256) {
            revert AlreadyClosed(c.beaconBlock);
        }
        c.beaconBlock = uint64(block.number + 1);
        emit CeremonyClosed(ceremonyId, c.beaconBlock);
    }

    /// @inheritdoc IModelRegistry
    function getCeremony(uint256 ceremonyId) external view returns (Ceremony memory) {
        return _ceremony(ceremonyId);
    }

    /// @inheritdoc IModelRegistry
    function beaconOf(uint256 ceremonyId) public view returns (bytes32 beacon) {
        uint64 at = _ceremony(ceremonyId).beaconBlock;
        beacon = at == 0 ? bytes32(0) : blockhash(at);
        if (beacon == bytes32(0)) revert BeaconUnavailable(at);
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Model memory) {
        return _existing(modelId);
    }

    /// @inheritdoc IModelRegistry
    function verifyingKeyOf(uint256 modelId) external view returns (bytes memory key) {
        address keyContract = _existing(modelId).verifyingKey;
        // Skip the leading STOP byte.
        uint256 size = keyContract.code.length - 1;
        key = new bytes(size);
        assembly ("memory-safe") {
            extcodecopy(keyContract, add(key, 32), 1, size)
        }
    }

    /// @inheritdoc IModelRegistry
    function ceremonyCount() external view returns (uint256) {
        return _ceremonyCount;
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    function _existing(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
    }

    function _ceremony(uint256 ceremonyId) private view returns (Ceremony storage c) {
        c = _ceremonies[ceremonyId];
        if (c.coordinator == address(0)) revert UnknownCeremony(ceremonyId);
    }

    /// @dev Reverts for a key with a point at infinity, gamma == delta or delta == G2 generator.
    function _refuseDegenerate(bytes calldata key, uint32 nPublic) private pure {
        // alpha is words 0-1; beta, gamma and delta 4 words each from word 2; gamma_abc[j]
        // 2 words each from word 14.
        for (uint256 i = 0; i < 5 + uint256(nPublic); ++i) {
            uint256 first = i == 0 ? 0 : i < 4 ? 4 * i - 2 : 2 * i + 6;
            uint256 end = first + (i == 0 || i >= 4 ? 2 : 4);
            bool zero = true;
            for (uint256 w = first; w < end && zero; ++w) {
                zero = _word(key, w) == 0;
            }
            if (zero) revert KeyPointAtInfinity(i);
        }
        if (keccak256(key[6 * 32:10 * 32]) == keccak256(key[10 * 32:14 * 32])) {
            revert GammaEqualsDelta();
        }
        if (
            _word(key, 10) == G2_X1 && _word(key, 11) == G2_X0 && _word(key, 12) == G2_Y1
                && _word(key, 13) == G2_Y0
        ) revert DeltaIsGenerator();
    }

    function _word(bytes calldata key, uint256 index) private pure returns (uint256) {
        return uint256(bytes32(key[index * 32:index * 32 + 32]));
    }

    /// @dev Deploys a contract whose code is 0x00 || data. Creation code (10 bytes):
    /// PUSH2 len, DUP1, PUSH1 10, RETURNDATASIZE, CODECOPY, RETURNDATASIZE, RETURN
    /// copies the code that follows it to memory 0 and returns it as the runtime code.
    function _storeData(bytes calldata data) private returns (address stored) {
        bytes memory init = abi.encodePacked(
            hex"61", uint16(data.length + 1), hex"80600a3d393df3", hex"00", data
        );
        assembly ("memory-safe") {
            stored := create(0, add(init, 32), mload(init))
        }
        if (stored == address(0)) revert KeyStorageFailed();
    }
}
