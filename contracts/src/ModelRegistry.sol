// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IModelRegistry} from "./IModelRegistry.sol";
import {Groth16Verifier} from "./Groth16Verifier.sol";

/// @title The provernet model registry
/// @notice Permissionless model registration; see IModelRegistry for the key layout and ids.
/// Registration checks the key's length and that every coordinate is below p; whether the points
/// lie on the curve is checked by the precompiles at verification time, so a registrant who stores
/// garbage only gets a model no proof verifies against. Provers check a model's key off-chain
/// before bidding on its jobs.
contract ModelRegistry is IModelRegistry {
    /// @notice Most public signals a key may have: EIP-170 caps contract code at 24,576 bytes,
    /// and 1 + 448 + 64 * (n + 1) <= 24,576 gives n <= 375.
    uint256 public constant MAX_PUBLIC_SIGNALS = 375;

    uint256 private _modelCount;
    mapping(uint256 modelId => Model) private _models;

    /// @inheritdoc IModelRegistry
    function registerModel(
        bytes32 onnxSha256,
        bytes32 circuitHash,
        bytes32 manifestHash,
        uint32 nPublic,
        uint64 constraintCount,
        bytes calldata verifyingKey
    ) external returns (uint256 modelId) {
        if (nPublic == 0 || nPublic > MAX_PUBLIC_SIGNALS) revert BadPublicSignalCount(nPublic);
        uint256 expected = Groth16Verifier.KEY_FIXED_BYTES + 64 * (uint256(nPublic) + 1);
        if (verifyingKey.length != expected) revert BadKeyLength(expected, verifyingKey.length);
        for (uint256 i = 0; i < expected / 32; ++i) {
            if (uint256(bytes32(verifyingKey[i * 32:i * 32 + 32])) >= Groth16Verifier.P) {
                revert KeyCoordinateOutOfField(i);
            }
        }
        address keyContract = _storeData(verifyingKey);
        modelId = ++_modelCount;
        _models[modelId] = Model({
            owner: msg.sender,
            constraintCount: constraintCount,
            nPublic: nPublic,
            deprecated: false,
            verifyingKey: keyContract,
            onnxSha256: onnxSha256,
            circuitHash: circuitHash,
            manifestHash: manifestHash
        });
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
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    function _existing(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
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
