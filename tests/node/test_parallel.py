"""The process mapper protocol/ is given: parts run in other processes, results in order."""

from __future__ import annotations

import os

from node.parallel import ceremony_backend, cpus, process_map


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def test_parts_run_in_other_processes_and_come_back_in_order() -> None:
    results = process_map(_pid_and_square, [3, 1, 2])
    assert [square for _, square in results] == [9, 1, 4]
    assert os.getpid() not in {pid for pid, _ in results}
    assert process_map(_pid_and_square, [5]) == [(os.getpid(), 25)]  # one part: here


def test_the_ceremony_backend_splits_only_when_there_are_cpus_to_share() -> None:
    backend = ceremony_backend()
    if backend.name == "zksnake" and cpus() > 1:
        assert getattr(backend, "mapper", None) is process_map
    assert ceremony_backend("pure").name == "pure"
