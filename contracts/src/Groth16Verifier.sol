// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Groth16 verification over BN254 with the EIP-196/197 precompiles
/// @notice Checks e(A, B) = e(alpha, beta) * e(vk_x, gamma) * e(C, delta), with
/// vk_x = IC[0] + sum_i s_i * IC[i+1] over the public signals s = [inputCommitment, outputs...],
/// as one pairing product e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) = 1
/// (EIP-197 precompile 0x08), after the multi-scalar product with 0x07 (mul) and 0x06 (add).
///
/// The key is read from a data contract laid out as documented in IModelRegistry: one 0x00
/// byte, then alpha_g1 | beta_g2 | gamma_g2 | delta_g2 | IC[0..n], 32-byte words, G2
/// coordinates in EIP-197 order (imaginary part first).
///
/// Failure policy: `verify` never reverts. It returns false for a proof that does not verify and
/// for every malformed input: a public signal >= r (it would alias a smaller one), a coordinate of
/// A >= p, a point off the curve or outside its subgroup (the precompile fails), or a key whose
/// length does not match the number of signals.
library Groth16Verifier {
    /// @dev BN254 base field modulus p (EIP-196).
    uint256 internal constant P =
        0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47;
    /// @dev BN254 scalar field order r (EIP-196): the group order of G1 and G2.
    uint256 internal constant R =
        0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    /// @dev Bytes of alpha_g1 (64) + beta_g2, gamma_g2, delta_g2 (128 each).
    uint256 internal constant KEY_FIXED_BYTES = 448;

    /// @notice Verify `proof` for the public signals [inputCommitment, outputs...].
    /// @param key The verifying key's data contract.
    /// @param proof (a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y).
    /// @param inputCommitment The first public signal.
    /// @param outputs The remaining public signals.
    /// @return ok True when the proof verifies.
    function verify(
        address key,
        uint256[8] calldata proof,
        uint256 inputCommitment,
        uint256[] calldata outputs
    ) internal view returns (bool ok) {
        uint256 n = outputs.length + 1;
        // The data contract holds the STOP byte, the fixed part and n + 1 IC points.
        if (key.code.length != 1 + KEY_FIXED_BYTES + 64 * (n + 1)) return false;
        if (proof[0] >= P || proof[1] >= P || inputCommitment >= R) return false;
        for (uint256 i = 0; i < outputs.length; ++i) {
            if (outputs[i] >= R) return false;
        }
        assembly ("memory-safe") {
            // Pairing input: four (G1, G2) pairs of 192 bytes at m; scratch for vk_x at m + 768.
            let m := mload(0x40)
            let t := add(m, 768)
            // Pair 0: (-A, B). -A = (x, p - y), and the point at infinity (0, 0) stays itself.
            mstore(m, calldataload(proof))
            mstore(add(m, 32), mod(sub(P, calldataload(add(proof, 32))), P))
            calldatacopy(add(m, 64), add(proof, 64), 128)
            // Pair 1: (alpha, beta), key bytes [1, 193).
            extcodecopy(key, add(m, 192), 1, 192)
            // Pair 2: (vk_x, gamma); gamma is key bytes [193, 321); vk_x is written below.
            extcodecopy(key, add(m, 448), 193, 128)
            // Pair 3: (C, delta); delta is key bytes [321, 449).
            calldatacopy(add(m, 576), add(proof, 192), 64)
            extcodecopy(key, add(m, 640), 321, 128)

            // vk_x accumulates in t[0, 64); t[64, 160) holds (IC[i+1], s_i) for 0x07, whose
            // result lands in t[64, 128) so that t[0, 128) is the input of 0x06.
            extcodecopy(key, t, 449, 64)
            ok := 1
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let s := inputCommitment
                if i { s := calldataload(add(outputs.offset, mul(sub(i, 1), 32))) }
                // A zero signal adds the point at infinity: skip its 6,000-gas multiplication.
                if s {
                    extcodecopy(key, add(t, 64), add(513, mul(i, 64)), 64)
                    mstore(add(t, 128), s)
                    ok := and(ok, staticcall(gas(), 0x07, add(t, 64), 96, add(t, 64), 64))
                    ok := and(ok, staticcall(gas(), 0x06, t, 128, t, 64))
                }
            }
            mstore(add(m, 384), mload(t))
            mstore(add(m, 416), mload(add(t, 32)))
            // 0x08 writes 1 for a product equal to one; a failed call (malformed point) is false.
            ok := and(ok, staticcall(gas(), 0x08, m, 768, m, 32))
            ok := and(ok, mload(m))
        }
    }
}
