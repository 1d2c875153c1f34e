"""The in-circuit Poseidon equals the native hash at circomlib's constraint counts, and
the chained input commitment matches its native definition."""

from __future__ import annotations

import pytest

from protocol.poseidon import poseidon
from protocol.r1cs.system import ConstraintSystem, LinearCombination, R, first_unsatisfied
from protocol.zkml import poseidon_gadget as pg
from tests.protocol.zkml.helpers import unpinned_wires

# circomlib Poseidon(n) template constraint counts (ZKML_NOTES.md, measured with circom)
CIRCOMLIB_COUNTS = {1: 213, 2: 240, 4: 297, 8: 402, 16: 609}


@pytest.mark.parametrize("n", range(1, 17))
def test_gadget_equals_native_poseidon(n: int) -> None:
    cs = ConstraintSystem()
    out = cs.alloc_public()
    ins = [cs.alloc_private_input() for _ in range(n)]
    h = pg.emit_poseidon(cs, [LinearCombination.wire(w) for w in ins])
    hash_constraints = len(cs.constraints)
    cs.enforce_equal(LinearCombination.wire(out), h)
    r1cs = cs.finish()
    inputs = [(7**i * 1_000_003 + R // (i + 2)) % R for i in range(n)]
    value, trace = pg.poseidon_witness(inputs)
    assert value == poseidon(inputs)
    assert hash_constraints == pg.poseidon_constraints(n)
    assert CIRCOMLIB_COUNTS.get(n, hash_constraints) == hash_constraints
    witness = [1, value, *inputs, *trace]
    assert first_unsatisfied(r1cs, witness) is None
    if n in (1, 3):
        assert unpinned_wires(r1cs, witness) == []
    witness[1] = (value + 1) % R
    assert first_unsatisfied(r1cs, witness) is not None


@pytest.mark.parametrize("n_packed", [0, 1, 15, 16, 31])
def test_chained_commitment(n_packed: int) -> None:
    packed = [(i * 0x9E3779B97F4A7C15) % (1 << 253) for i in range(n_packed)]
    salt = 0xABCDEF
    expected = salt
    for start in range(0, max(n_packed, 1), pg.CHAIN_WIDTH):
        expected = poseidon([expected, *packed[start : start + pg.CHAIN_WIDTH]])
    assert pg.commitment_native(packed, salt) == expected
    cs = ConstraintSystem()
    out = cs.alloc_public()
    wires = [cs.alloc_private_input() for _ in range(n_packed + 1)]
    lcs = [LinearCombination.wire(w) for w in wires]
    cs.enforce_equal(LinearCombination.wire(out), pg.emit_commitment(cs, lcs[1:], lcs[0]))
    value, trace = pg.commitment_witness(packed, salt)
    assert value == expected
    assert len(trace) == pg.commitment_wires(n_packed)
    assert first_unsatisfied(cs.finish(), [1, value, salt, *packed, *trace]) is None


def test_packing_is_lowest_first() -> None:
    assert pg.pack([1, 2, 3], 10) == [1 + (2 << 10) + (3 << 20)]
    assert len(pg.pack([0] * 26, 10)) == 2  # floor(253 / 10) = 25 per element
