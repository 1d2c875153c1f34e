"""Groth16 proving and setup spread over worker processes, one model's bases kept per worker.

A Groth16 proof is five independent MSMs (A, B1, B2, L, H) plus NTTs; the
backends hold the GIL, so ``ProverPool`` runs the MSMs in ``workers`` spawned
processes. Each worker is its own single-process executor, so a job always
reaches the process that holds its bases: ``prepare(key, pk, r1cs)`` sends each
worker the proving-key points of the MSMs assigned to it, which it loads into
its backend once (the int-to-native conversion) and keeps under ``key`` until
``forget(key)``. ``prove(key, ...)`` computes h in this process, ships only
scalars, and assembles the proof from the five sums. ``setup`` splits the
fixed-base batches of a setup over the same workers; the toxic waste's scalars
then cross a local pipe to this node's own children and nowhere else.

With ``workers=0`` everything runs in this process (no start-up cost: the CLI
uses it for small circuits). Call the blocking methods from a thread
(``trio.to_thread.run_sync``), never from the event loop.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any

from protocol.bn254.backend import Backend, available_backends, get_backend
from protocol.bn254.curve import G1, G2
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError
from protocol.groth16.keys import Proof, ProvingKey
from protocol.groth16.prove import MsmJobs, MsmResults, Prover
from protocol.groth16.setup import ToxicWaste, setup
from protocol.r1cs.system import R1CS

# Relative cost of one G2 against one G1 MSM term (ZKML_NOTES: "a G2 MSM costs about 3x").
_G2_WEIGHT = 3
_JOBS = tuple(f.name for f in fields(MsmJobs))


def default_workers() -> int:
    """One worker per core, and no more than there are MSMs to share."""
    return min(os.cpu_count() or 1, len(_JOBS))


# ---------------------------------------------------------------- worker process side

_WORKER_BACKEND: Backend | None = None
_WORKER_BASES: dict[tuple[str, str], Any] = {}


def _worker_init(backend_name: str) -> None:
    global _WORKER_BACKEND
    _WORKER_BACKEND = get_backend(backend_name)


def _backend() -> Backend:
    if _WORKER_BACKEND is None:
        raise LocalProtocolError("proving worker used before its initialiser ran")
    return _WORKER_BACKEND


def _worker_load(key: str, job: str, points: Sequence[Any]) -> None:
    load = _backend().load_g2 if job == "b_g2" else _backend().load_g1
    _WORKER_BASES[(key, job)] = load(points)


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


def assign_jobs(sizes: dict[str, int], workers: int) -> list[list[str]]:
    """Split the MSM jobs over ``workers`` by estimated cost, largest first."""
    cost = {job: size * (_G2_WEIGHT if job == "b_g2" else 1) for job, size in sizes.items()}
    loads = [0] * workers
    plan: list[list[str]] = [[] for _ in range(workers)]
    for job in sorted(cost, key=lambda j: (-cost[j], j)):
        least = loads.index(min(loads))
        plan[least].append(job)
        loads[least] += cost[job]
    return plan


class ProverPool:
    """Proves with prepared models on worker processes; see the module docstring."""

    def __init__(self, backend: str | None = None, workers: int | None = None) -> None:
        self.backend = get_backend(backend)
        self.workers = default_workers() if workers is None else workers
        if self.workers < 0:
            raise LocalProtocolError("workers must be >= 0")
        ctx = multiprocessing.get_context("spawn")
        self._executors = [
            ProcessPoolExecutor(1, ctx, _worker_init, (self.backend.name,))
            for _ in range(self.workers)
        ]
        self._provers: dict[str, Prover] = {}
        self._plans: dict[str, dict[str, int]] = {}

    def __enter__(self) -> ProverPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
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
        plan = assign_jobs({job: len(p) for job, p in points.items()}, self.workers)
        where = {job: w for w, jobs in enumerate(plan) for job in jobs}
        loads = [
            self._executors[where[job]].submit(_worker_load, key, job, points[job]) for job in _JOBS
        ]
        for done in loads:
            done.result()
        self._provers[key], self._plans[key] = prover, where

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
        where = self._plans[key]
        pending: dict[str, Future[Any]] = {
            job: self._executors[where[job]].submit(_worker_msm, key, job, getattr(jobs, job)[1])
            for job in _JOBS
        }
        sums = MsmResults(**{job: done.result() for job, done in pending.items()})
        return prover.assemble(sums, r, s)

    def setup(self, r1cs: R1CS, toxic: ToxicWaste) -> ProvingKey:
        """The Groth16 setup of ``r1cs`` with its fixed-base batches spread over the workers."""
        if not self._executors:
            return setup(r1cs, toxic, self.backend)
        return setup(r1cs, toxic, _PooledSetup(self.backend, self._executors))


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
