"""Groth16 proving and setup spread over worker processes, one model's bases kept per worker.

A Groth16 proof is five independent MSMs (A, B1, B2, L, H) plus NTTs; the
backends hold the GIL, so ``ProverPool`` runs the MSMs in ``workers`` spawned
processes. Each worker is its own single-process executor, so a job always
reaches the process that holds its bases: ``prepare(key, pk, r1cs)`` cuts every
MSM into one slice per worker (equal cost whatever the backend and the scalars)
and sends each worker only its slices' points, which it loads into its backend
once (the int-to-native conversion) and keeps under ``key`` until
``forget(key)``; this process then drops its own copy of the points.
``prove(key, ...)`` computes h in this process, ships only scalars, and adds up
the slices' sums into the proof. Workers start without the parent's main module
(see ``_lean_spawn``), so they hold the MSM code and their bases, nothing else; a
worker ends itself once its parent is gone (a node killed with SIGKILL leaves no
orphans). ``setup`` splits the fixed-base batches of a setup over the same workers;
the toxic waste's scalars then cross a local pipe to this node's own children and
nowhere else.

With ``workers=0`` everything runs in this process (no start-up cost: the CLI
uses it for small circuits). Call the blocking methods from a thread
(``trio.to_thread.run_sync``), never from the event loop.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import types
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from protocol.bn254.backend import Backend, available_backends, get_backend
from protocol.bn254.curve import G1, G2, g1_add, g2_add
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError
from protocol.groth16.keys import Proof, ProvingKey
from protocol.groth16.prove import MsmJobs, MsmResults, Prover
from protocol.groth16.setup import ToxicWaste, setup
from protocol.r1cs.system import R1CS

_JOBS = tuple(f.name for f in fields(MsmJobs))
# The H query's scalars are the quotient's coefficients: full-size whatever the witness.
_FULL_SIZE_JOB = "h"


def peak_rss_bytes() -> int | None:
    """This process's peak resident set (Linux ``VmHWM``), or None where /proc lacks it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # the kernel reports kB
    except OSError:
        pass
    return None


def default_workers() -> int:
    """One worker per core, and no more than there are MSMs to share."""
    return min(os.cpu_count() or 1, len(_JOBS))


# Below this many constraints a proof takes less than starting worker processes
# (about 0.5 s each, measured in bench/results/proving.md), so it runs in-process.
POOL_MIN_CONSTRAINTS = 4096


def pool_for(backend: str | None, n_constraints: int) -> ProverPool:
    """A pool sized for one setup or proof of ``n_constraints``: in-process when small."""
    small = n_constraints < POOL_MIN_CONSTRAINTS
    return ProverPool(backend, workers=0 if small else default_workers())


# ---------------------------------------------------------------- worker process side

_WORKER_BACKEND: Backend | None = None
_WORKER_BASES: dict[tuple[str, str], Any] = {}  # (model key, job) -> this worker's slice


# How often a worker checks that the process that started it is alive.
_PARENT_CHECK_S = 1.0


def _worker_init(backend_name: str, parent: int) -> None:
    global _WORKER_BACKEND
    _WORKER_BACKEND = get_backend(backend_name)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker once its parent is gone (a SIGKILLed node): the executor's queue
    gives a worker no end-of-file, so without this it would live on as an orphan."""
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_S)
    os._exit(0)


def _backend() -> Backend:
    if _WORKER_BACKEND is None:
        raise LocalProtocolError("proving worker used before its initialiser ran")
    return _WORKER_BACKEND


def _worker_load(key: str, job: str, points: Sequence[Any]) -> None:
    load = _backend().load_g2 if job == "b_g2" else _backend().load_g1
    _WORKER_BASES[(key, job)] = load(points)


def _worker_convert(key: str, job: str) -> None:
    convert = getattr(_backend(), "convert_all", None)
    if convert is not None:  # a backend that makes native points on demand
        convert(_WORKER_BASES[(key, job)])


def _worker_msm(key: str, job: str, scalars: Sequence[int]) -> Any:
    bases = _WORKER_BASES.get((key, job))
    if bases is None:
        raise LocalProtocolError(f"model {key!r} is not prepared on this worker (job {job})")
    if job == "b_g2":
        return _backend().msm_g2(bases, scalars)
    return _backend().msm_g1(bases, scalars)


def _worker_forget(key: str) -> None:
    for slot in [slot for slot in _WORKER_BASES if slot[0] == key]:
        del _WORKER_BASES[slot]


def _worker_info() -> dict[str, Any]:
    main = sys.modules["__main__"]
    return {
        "pid": os.getpid(),
        "peak_rss_bytes": peak_rss_bytes(),
        "main_module": getattr(main, "__file__", None) or getattr(main.__spec__, "name", None),
        "bases": {f"{key}/{job}": len(b) for (key, job), b in sorted(_WORKER_BASES.items())},
    }


def _worker_fixed_base(group: int, scalars: Sequence[int]) -> list[Any]:
    if group == 1:
        return _backend().g1_fixed_base_batch(G1, scalars)
    return _backend().g2_fixed_base_batch(G2, scalars)


# ---------------------------------------------------------------- the pool


@dataclass(frozen=True)
class _Unloaded:
    """Stands for bases that live in the workers; only its length is known here."""

    size: int

    def __len__(self) -> int:
        return self.size


class _LocalSide:
    """The backend of this process's ``Prover``: NTTs here, bases left to the workers."""

    def __init__(self, backend: Backend) -> None:
        self.inner = backend
        self.name = backend.name

    def load_g1(self, points: Sequence[G1Affine]) -> _Unloaded:
        return _Unloaded(len(points))

    def load_g2(self, points: Sequence[G2Affine]) -> _Unloaded:
        return _Unloaded(len(points))

    def msm_g1(self, bases: object, scalars: Sequence[int]) -> G1Affine:
        raise LocalProtocolError("MSMs of a pooled prover run in its workers")

    def msm_g2(self, bases: object, scalars: Sequence[int]) -> G2Affine:
        raise LocalProtocolError("MSMs of a pooled prover run in its workers")

    def ntt(
        self, values: Sequence[int], *, inverse: bool = False, coset: bool = False
    ) -> list[int]:
        return self.inner.ntt(values, inverse=inverse, coset=coset)

    def g1_fixed_base_batch(self, base: G1Affine, scalars: Sequence[int]) -> list[G1Affine]:
        return self.inner.g1_fixed_base_batch(base, scalars)

    def g2_fixed_base_batch(self, base: G2Affine, scalars: Sequence[int]) -> list[G2Affine]:
        return self.inner.g2_fixed_base_batch(base, scalars)

    def pairing_check(self, pairs: Sequence[tuple[G1Affine, G2Affine]]) -> bool:
        return self.inner.pairing_check(pairs)

    def scale_g1(self, points: Sequence[G1Affine], k: int) -> list[G1Affine]:
        return self.inner.scale_g1(points, k)

    def group_sums_g1(
        self, points: Sequence[G1Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G1Affine]:
        return self.inner.group_sums_g1(points, groups)

    def group_sums_g2(
        self, points: Sequence[G2Affine], groups: Sequence[Sequence[tuple[int, int]]]
    ) -> list[G2Affine]:
        return self.inner.group_sums_g2(points, groups)

    def ifft_g1(self, points: Sequence[G1Affine], sizes: Sequence[int]) -> list[list[G1Affine]]:
        return self.inner.ifft_g1(points, sizes)

    def ifft_g2(self, points: Sequence[G2Affine], sizes: Sequence[int]) -> list[list[G2Affine]]:
        return self.inner.ifft_g2(points, sizes)


def slices(size: int, parts: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` bounds cutting ``size`` terms into ``parts`` near-equal slices."""
    step, extra = divmod(size, parts)
    bounds, lo = [], 0
    for part in range(parts):
        hi = lo + step + (part < extra)
        bounds.append((lo, hi))
        lo = hi
    return bounds


@contextmanager
def _lean_spawn() -> Iterator[None]:
    """Start spawned workers without re-importing this program's main module.

    A spawned child runs the parent's ``__main__`` again (for ``provernet`` that is
    the whole CLI: onnx, onnxruntime, web3), 40 MiB a worker that an MSM never
    uses; with a bare ``__main__`` in place while the workers start, they import
    only what their pickled calls name.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class ProverPool:
    """Proves with prepared models on worker processes; see the module docstring."""

    def __init__(self, backend: str | None = None, workers: int | None = None) -> None:
        self.backend = get_backend(backend)
        self.workers = default_workers() if workers is None else workers
        if self.workers < 0:
            raise LocalProtocolError("workers must be >= 0")
        ctx = multiprocessing.get_context("spawn")
        self._executors = [
            ProcessPoolExecutor(1, ctx, _worker_init, (self.backend.name, os.getpid()))
            for _ in range(self.workers)
        ]
        with _lean_spawn():  # an executor starts its process at the first submit
            for started in [ex.submit(os.getpid) for ex in self._executors]:
                started.result()
        self._provers: dict[str, Prover] = {}
        self._plans: dict[str, dict[str, list[tuple[int, int]]]] = {}

    def __enter__(self) -> ProverPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers; loaded bases are lost."""
        for executor in self._executors:
            executor.shutdown(cancel_futures=True)
        self._executors = []

    def status(self) -> dict[str, Any]:
        """What node status and metrics show about proving: backend, workers, models."""
        return {
            "backend": self.backend.name,
            "available_backends": available_backends(),
            "workers": self.workers,
            "prepared_models": sorted(self._provers),
        }

    def worker_info(self) -> list[dict[str, Any]]:
        """Per worker: pid, peak RSS, the main module it runs (None: lean) and its bases."""
        return [done.result() for done in [ex.submit(_worker_info) for ex in self._executors]]

    def peak_rss_mib(self) -> float | None:
        """Peak RSS of this process plus every worker's so far (MiB), or None off Linux."""
        peaks: list[int | None] = [peak_rss_bytes()]
        peaks += [w["peak_rss_bytes"] for w in self.worker_info()]
        total = 0
        for peak in peaks:
            if peak is None:
                return None
            total += peak
        return round(total / 2**20, 1)

    def prepare(self, key: str, pk: ProvingKey, r1cs: R1CS) -> None:
        """Load ``pk``'s bases for model ``key`` into the workers (once per model)."""
        if key in self._provers:
            return
        if not self._executors:
            self._provers[key] = Prover(pk, r1cs, self.backend)
            return
        prover = Prover(pk, r1cs, _LocalSide(self.backend))
        points = {"a": pk.a_query, "b_g1": pk.b_g1_query, "b_g2": pk.b_g2_query}
        points |= {"l": pk.l_query, "h": pk.h_query}
        plan = {job: slices(len(points[job]), self.workers) for job in _JOBS}
        loads = [
            ex.submit(_worker_load, key, job, points[job][lo:hi])
            for job in _JOBS
            for ex, (lo, hi) in zip(self._executors, plan[job], strict=True)
        ]
        for done in loads:
            done.result()
        for ex in self._executors:
            # Not awaited: it runs while this process computes h for the first proof,
            # whose H slices queue behind it; a failure recurs, and is raised, there.
            ex.submit(_worker_convert, key, _FULL_SIZE_JOB)
        prover.drop_points()
        self._provers[key], self._plans[key] = prover, plan

    def forget(self, key: str) -> None:
        """Drop model ``key``'s bases everywhere."""
        self._provers.pop(key, None)
        if self._plans.pop(key, None) is not None:
            for done in [ex.submit(_worker_forget, key) for ex in self._executors]:
                done.result()

    def prove(self, key: str, witness: Sequence[int], r: int, s: int) -> Proof:
        """A proof for ``witness`` with the prepared model ``key``, randomised by ``r``, ``s``."""
        prover = self._provers.get(key)
        if prover is None:
            raise LocalProtocolError(f"model {key!r} is not prepared; call prepare() first")
        jobs = prover.msm_jobs(witness)
        if not self._executors:
            return prover.assemble(prover.run(jobs), r, s)
        plan = self._plans[key]
        pending: dict[str, list[Future[Any]]] = {}
        for job in _JOBS:
            scalars = getattr(jobs, job)[1]
            if len(scalars) != plan[job][-1][1]:
                raise LocalProtocolError(
                    f"{job}: {plan[job][-1][1]} points, {len(scalars)} scalars"
                )
            pending[job] = [
                ex.submit(_worker_msm, key, job, scalars[lo:hi])
                for ex, (lo, hi) in zip(self._executors, plan[job], strict=True)
            ]
        sums = {job: _sum(job, [done.result() for done in parts]) for job, parts in pending.items()}
        return prover.assemble(MsmResults(**sums), r, s)

    def setup(self, r1cs: R1CS, toxic: ToxicWaste) -> ProvingKey:
        """The Groth16 setup of ``r1cs`` with its fixed-base batches spread over the workers."""
        if not self._executors:
            return setup(r1cs, toxic, self.backend)
        return setup(r1cs, toxic, _PooledSetup(self.backend, self._executors))


def _sum(job: str, parts: list[Any]) -> Any:
    total: Any = None
    for part in parts:
        total = g2_add(total, part) if job == "b_g2" else g1_add(total, part)
    return total


class _PooledSetup(_LocalSide):
    """A setup backend whose fixed-base batches are split into one chunk per worker."""

    def __init__(self, backend: Backend, executors: list[ProcessPoolExecutor]) -> None:
        super().__init__(backend)
        self._executors = executors

    def _split(self, group: int, scalars: Sequence[int]) -> list[Any]:
        if not scalars:
            return []
        step = -(-len(scalars) // len(self._executors))
        chunks = [scalars[i : i + step] for i in range(0, len(scalars), step)]
        pending = [
            ex.submit(_worker_fixed_base, group, list(chunk))
            for ex, chunk in zip(self._executors, chunks, strict=False)
        ]
        return [p for done in pending for p in done.result()]

    def g1_fixed_base_batch(self, base: G1Affine, scalars: Sequence[int]) -> list[G1Affine]:
        if base != G1:
            return self.inner.g1_fixed_base_batch(base, scalars)
        return self._split(1, scalars)

    def g2_fixed_base_batch(self, base: G2Affine, scalars: Sequence[int]) -> list[G2Affine]:
        if base != G2:
            return self.inner.g2_fixed_base_batch(base, scalars)
        return self._split(2, scalars)
