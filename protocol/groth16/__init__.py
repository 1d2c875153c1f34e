"""Groth16 over BN254 (Groth, "On the Size of Pairing-based Non-interactive
Arguments", EUROCRYPT 2016), one module per phase: ``qap`` (R1CS to QAP),
``setup``, ``prove``, ``verify``; ``keys`` holds the key and proof types,
``snarkjs`` the JSON formats, ``calldata`` the EVM encodings."""
