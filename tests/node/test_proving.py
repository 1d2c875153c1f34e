"""The prover pool: MSMs and setup batches on worker processes give the in-process results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from node.proving import ProverPool, assign_jobs
from protocol.bn254.backend import available_backends
from protocol.errors import LocalProtocolError
from protocol.groth16.keys import ProvingKey
from protocol.groth16.prove import Prover
from protocol.groth16.setup import ToxicWaste, setup
from protocol.groth16.verify import verify
from protocol.r1cs.system import R1CS
from tests.protocol.circuits import small_values

R_1, S_1 = 0xC0FFEE, 0xFACADE  # fixed randomisers: tests only
TOXIC = ToxicWaste.from_entropy(b"pool-test".ljust(32, b"."))  # fixed seed: tests only


@pytest.fixture(scope="module")
def circuit() -> tuple[R1CS, list[int], ProvingKey]:
    r1cs, witness = small_values(120)
    return r1cs, witness, setup(r1cs, TOXIC, None)


@pytest.fixture(scope="module", params=available_backends())
def pool(request: pytest.FixtureRequest) -> Iterator[ProverPool]:
    with ProverPool(request.param, workers=2) as pool:
        yield pool


def test_jobs_are_balanced_by_cost() -> None:
    plan = assign_jobs({"a": 100, "b_g1": 100, "b_g2": 100, "l": 90, "h": 128}, 2)
    assert sorted(job for jobs in plan for job in jobs) == ["a", "b_g1", "b_g2", "h", "l"]
    assert plan == [["b_g2", "l"], ["h", "a", "b_g1"]]  # costs 300 + 90 against 128 + 200
    assert assign_jobs({"a": 1, "h": 1}, 1) == [["a", "h"]]


@pytest.mark.slow
def test_pool_proofs_equal_in_process_proofs(
    pool: ProverPool, circuit: tuple[R1CS, list[int], ProvingKey]
) -> None:
    r1cs, witness, pk = circuit
    pool.prepare("m1", pk, r1cs)
    pool.prepare("m1", pk, r1cs)  # a second prepare of one model is free
    assert pool.status() | {"available_backends": None} == {
        "backend": pool.backend.name,
        "available_backends": None,
        "workers": 2,
        "prepared_models": ["m1"],
    }
    proof = pool.prove("m1", witness, R_1, S_1)
    assert proof == Prover(pk, r1cs, pool.backend).prove(witness, R_1, S_1)
    assert verify(pk.vk, witness[1:3], proof)
    pool.forget("m1")
    with pytest.raises(LocalProtocolError, match="not prepared"):
        pool.prove("m1", witness, R_1, S_1)


@pytest.mark.slow
def test_pool_setup_equals_in_process_setup(
    pool: ProverPool, circuit: tuple[R1CS, list[int], ProvingKey]
) -> None:
    r1cs, _, pk = circuit
    assert pool.setup(r1cs, TOXIC) == pk


def test_in_process_pool(circuit: tuple[R1CS, list[int], ProvingKey]) -> None:
    r1cs, witness, pk = circuit
    with ProverPool("pure", workers=0) as pool:
        assert pool.setup(r1cs, TOXIC) == pk
        pool.prepare("m", pk, r1cs)
        assert verify(pk.vk, witness[1:3], pool.prove("m", witness, R_1, S_1))
    with pytest.raises(LocalProtocolError, match="workers"):
        ProverPool(workers=-1)
