"""The prover pool: MSMs and setup batches on worker processes give the in-process results."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.proving import ProverPool, slices
from protocol.bn254.backend import available_backends
from protocol.errors import LocalProtocolError
from protocol.groth16.keys import ProvingKey
from protocol.groth16.prove import Prover
from protocol.groth16.setup import ToxicWaste, setup
from protocol.groth16.verify import verify
from protocol.r1cs.system import R1CS
from tests.protocol.circuits import small_values

ROOT = Path(__file__).resolve().parents[2]

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


def test_slices_cut_every_msm_evenly() -> None:
    assert slices(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert slices(1, 2) == [(0, 1), (1, 1)]
    assert slices(0, 2) == [(0, 0), (0, 0)]
    assert slices(5, 1) == [(0, 5)]


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
    assert pool.prove("m1", witness, S_1, R_1) == Prover(pk, r1cs).prove(witness, S_1, R_1)
    with pytest.raises(LocalProtocolError, match="186 values"):
        pool.prove("m1", [*witness, 1], R_1, S_1)
    pool.forget("m1")
    with pytest.raises(LocalProtocolError, match="not prepared"):
        pool.prove("m1", witness, R_1, S_1)


@pytest.mark.slow
def test_workers_hold_only_their_slices(circuit: tuple[R1CS, list[int], ProvingKey]) -> None:
    r1cs, _, pk = circuit
    import onnx  # noqa: F401 -- heavy, and imported here only: workers must not inherit it

    with ProverPool("pure", workers=2) as pool:
        pool.prepare("m", pk, r1cs)
        info = pool.worker_info()
        peak = pool.peak_rss_mib()
    sizes = {"a": len(pk.a_query), "b_g1": len(pk.b_g1_query), "b_g2": len(pk.b_g2_query)}
    sizes |= {"l": len(pk.l_query), "h": len(pk.h_query)}
    for job, size in sizes.items():
        held = [w["bases"][f"m/{job}"] for w in info]
        assert held == [hi - lo for lo, hi in slices(size, 2)]
    assert [w["main_module"] for w in info] == [None, None]
    assert len({w["pid"] for w in info}) == 2
    assert peak is not None
    assert peak > sum(w["peak_rss_bytes"] for w in info) / 2**20


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


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited (its reaper may be slow)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_worker_exits_when_its_node_is_killed() -> None:
    script = (
        "import time; from node.proving import ProverPool; pool = ProverPool(workers=1); "
        "print(pool.worker_info()[0]['pid'], flush=True); time.sleep(60)"
    )
    node = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT)
    assert node.stdout is not None
    worker = int(node.stdout.readline())
    assert _running(worker)
    node.kill()  # SIGKILL: nothing in the node cleans up
    node.wait(10)
    node.stdout.close()
    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(worker), "the worker outlived its node"
