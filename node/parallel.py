"""Heavy point work split over worker processes: the mapper protocol/ takes.

protocol/ does no I/O, so its native backend and its phase-1 preparation only accept a
``mapper(work, parts)``; this module supplies one that runs each part in its own
spawned process (safe beside the daemon's threads: nothing of this process is
copied), and a backend for ceremonies (setup, contributions, verification) that uses
it, one process a CPU. Inside a pool worker (a daemonic process, which may not start
processes) the parts run in turn instead.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from protocol.bn254.backend import Backend, get_backend

MAX_WORKERS = 8


def cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover (macOS)


def process_map(work: Callable[[Any], Any], parts: list[Any]) -> list[Any]:
    """``[work(part) for part in parts]``, one spawned process a part."""
    if len(parts) < 2 or multiprocessing.current_process().daemon:
        return [work(part) for part in parts]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(parts), mp_context=context) as pool:
        return list(pool.map(work, parts))


def ceremony_backend(name: str | None = None) -> Backend:
    """The backend ``name`` (the best one by default) with its scaling and group sums
    split over one process a CPU when it is the native one."""
    backend = get_backend(name)
    workers = min(cpus(), MAX_WORKERS)
    if backend.name != "zksnake" or workers < 2:
        return backend
    from protocol.bn254.fast import ZksnakeBackend

    return ZksnakeBackend(mapper=process_map, workers=workers)
