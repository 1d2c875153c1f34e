"""The proving-key binary format: round trip and rejection of malformed files."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from protocol.bn254.curve import G2
from protocol.bn254.fields import P
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.groth16.keys import proving_key_from_bytes, proving_key_to_bytes
from tests.protocol.groth16.conftest import Circuit

HEADER = 20
G1_AT = HEADER  # alpha_g1
G2_AT = HEADER + 3 * 64  # beta_g2


def test_round_trip(multi_public_circuit: Circuit) -> None:
    pk = multi_public_circuit.pk
    data = proving_key_to_bytes(pk)
    assert proving_key_from_bytes(data) == pk
    assert data[:4] == b"pnpk"


def _patch(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def test_rejects_malformed(cubic_circuit: Circuit) -> None:
    good = proving_key_to_bytes(cubic_circuit.pk)
    u32 = struct.Struct("<I").pack
    cases = [
        (good[:10], "header"),
        (_patch(good, 0, b"zkey"), "magic"),
        (_patch(good, 4, u32(9)), "version 9"),
        (_patch(good, 8, u32(7)), "7 public"),
        (_patch(good, 16, u32(12)), "power of two"),
        (_patch(good, 16, u32(16)), "header implies"),
        (good[:-1], "header implies"),
        (good + b"\0" * 64, "header implies"),
        (_patch(good, G1_AT + 63, b"\x07"), "alpha/beta/delta_g1\\[0\\].*not on the curve"),
        (_patch(good, G2_AT + 127, b"\x07"), "beta/gamma/delta_g2\\[0\\] is not on the G2"),
        (_patch(good, G2_AT, P.to_bytes(32, "big")), "not below the field modulus"),
    ]
    for data, message in cases:
        with pytest.raises(RemoteProtocolError, match=message):
            proving_key_from_bytes(data)


def test_writer_rejects_inconsistent_keys(cubic_circuit: Circuit) -> None:
    pk = cubic_circuit.pk
    with pytest.raises(LocalProtocolError, match="h_query"):
        proving_key_to_bytes(replace(pk, h_query=pk.h_query[:-1]))


def test_degenerate_verifying_keys_are_named(multi_public_circuit: Circuit) -> None:
    vk = multi_public_circuit.pk.vk
    assert vk.degeneracy() is None
    assert replace(vk, gamma_g2=G2).degeneracy() is None  # snarkjs's gamma: sound (BGM17)
    cases = [
        (replace(vk, delta_g2=vk.gamma_g2), "gamma equals delta"),
        (replace(vk, delta_g2=G2), "delta is the generator"),
        (replace(vk, alpha_g1=None), "alpha_1 is the point at infinity"),
        (replace(vk, gamma_abc_g1=(*vk.gamma_abc_g1[:-1], None)), f"IC[{vk.n_public}]"),
    ]
    for key, reason in cases:
        problem = key.degeneracy()
        assert problem is not None
        assert reason in problem
