"""Poseidon: the known answer, parameter shapes, and circomlibjs as an independent oracle."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from node import tools
from protocol.errors import LocalProtocolError
from protocol.poseidon import MAX_T, MIN_T, PARTIAL_ROUNDS, R, permute, poseidon, poseidon_params


def test_known_answer_two_inputs() -> None:
    # circomlib's published test vector for Poseidon([1, 2]).
    assert poseidon([1, 2]) == 0x115CC0F5E7D690413DF64C6B9662E9CF2A3617F2743245519E19607A4417189A


def test_first_round_constant_matches_circomlib_table() -> None:
    # C[t=3][0] in circomlib's poseidon_constants.
    first = poseidon_params(3).round_constants[0][0]
    assert first == 0x0EE9A592BA9A9518D05986D656F40C2114C4993C11BB29938D21D47304CD8E6E


@pytest.mark.parametrize("t", [MIN_T, 5, MAX_T])
def test_param_shapes(t: int) -> None:
    params = poseidon_params(t)
    assert params.t == t
    assert params.full_rounds == 8
    assert params.partial_rounds == PARTIAL_ROUNDS[t - 2]
    assert len(params.round_constants) == params.n_rounds
    assert all(len(rc) == t and all(0 <= c < R for c in rc) for rc in params.round_constants)
    assert len(params.mds) == t
    assert all(len(row) == t and all(0 < m < R for m in row) for row in params.mds)
    full = [params.is_full_round(r) for r in range(params.n_rounds)]
    assert full == [True] * 4 + [False] * params.partial_rounds + [True] * 4


def test_params_are_cached() -> None:
    assert poseidon_params(4) is poseidon_params(4)


def test_permutation_is_a_bijection_on_samples() -> None:
    params = poseidon_params(3)
    outs = {tuple(permute(params, [0, a, b])) for a in range(4) for b in range(4)}
    assert len(outs) == 16


def test_input_changes_output() -> None:
    assert poseidon([1, 2]) != poseidon([2, 1])
    assert poseidon([0]) != poseidon([0, 0])


@pytest.mark.parametrize("inputs", [[], list(range(17)), [R], [-1]])
def test_rejects_bad_inputs(inputs: list[int]) -> None:
    with pytest.raises(LocalProtocolError):
        poseidon(inputs)


@pytest.mark.parametrize("t", [1, 18])
def test_rejects_bad_width(t: int) -> None:
    with pytest.raises(LocalProtocolError):
        poseidon_params(t)


_CIRCOMLIBJS_SCRIPT = """
const { buildPoseidonReference } = require("circomlibjs");
(async () => {
  const vectors = JSON.parse(process.argv[1]);
  const poseidon = await buildPoseidonReference();
  const out = vectors.map((v) => poseidon.F.toString(poseidon(v.map(BigInt))));
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def _vectors() -> list[list[int]]:
    vectors = []
    for n in range(1, MAX_T):
        vectors.append(list(range(1, n + 1)))
        vectors.append([(R - 1 - 7919 * k * k) % R for k in range(n)])
    return vectors


@pytest.mark.snarkjs
def test_matches_circomlibjs_for_every_width() -> None:
    node_modules = tools.node_modules()
    if not (node_modules / "circomlibjs").is_dir():
        pytest.fail(f"circomlibjs missing from {node_modules}; run `python -m node.tools install`")
    vectors = _vectors()
    payload = json.dumps([[str(x) for x in v] for v in vectors])
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    proc = subprocess.run(
        ["node", "-e", _CIRCOMLIBJS_SCRIPT, payload],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    expected = [int(x) for x in json.loads(proc.stdout)]
    assert [poseidon(v) for v in vectors] == expected
