// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Groth16Verifier} from "../src/Groth16Verifier.sol";

/// @title Exposes the Groth16 verifier library for direct tests and gas measurements
contract VerifierHarness {
    /// @notice Groth16Verifier.verify as an external call.
    /// @param key The key's data contract.
    /// @param proof The proof words.
    /// @param inputCommitment The first public signal.
    /// @param outputs The remaining public signals.
    /// @return True when the proof verifies.
    function verify(
        address key,
        uint256[8] calldata proof,
        uint256 inputCommitment,
        uint256[] calldata outputs
    ) external view returns (bool) {
        return Groth16Verifier.verify(key, proof, inputCommitment, outputs);
    }
}
