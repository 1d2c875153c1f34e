"""Starting and stopping the devnet's detached processes (anvil and the node daemons).

Each process runs in its own session (it outlives ``devnet up`` and a Ctrl-C in
its terminal) with stdin closed and stdout and stderr appended to its log file.
Stopping sends SIGTERM, waits, then SIGKILL; a process whose fingerprint no
longer matches its record is someone else's and is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devnet.state import ProcessRecord, fingerprint, is_running

# node run stops its services, withdraws its API files and closes the store on SIGTERM;
# a few seconds suffice (tests/node/daemon stops daemons within 20 s).
STOP_TIMEOUT_S = 15.0
_POLL_S = 0.05


class ProcessError(Exception):
    """A devnet process could not be started."""


def spawn(
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ProcessRecord:
    """Start ``argv`` detached with its output appended to ``log``; its record."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessError(f"cannot start {name} ({argv[0]}): {exc}") from exc
    stamp = fingerprint(process.pid)
    if stamp is None:
        process.wait()
        raise ProcessError(f"{name} exited at once with code {process.returncode}; see {log}")
    # The Popen object is dropped: the record (pid + fingerprint) is what identifies it now.
    process.returncode = 0  # keeps Popen.__del__ from warning about a running child
    return ProcessRecord(name, process.pid, stamp, tuple(argv), str(log))


def stop(record: ProcessRecord, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop the recorded process if it still runs; whether it had to be killed."""
    if not is_running(record):
        return False
    _signal(record, signal.SIGTERM)
    if _wait_gone(record, timeout_s):
        return False
    _signal(record, signal.SIGKILL)
    _wait_gone(record, timeout_s)
    return True


def stop_all(records: Sequence[ProcessRecord], timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """Stop every record's process (all SIGTERMed at once); the names that needed SIGKILL."""
    live = [r for r in records if is_running(r)]
    for record in live:
        _signal(record, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    killed = []
    for record in live:
        if not _wait_gone(record, max(0.0, deadline - time.monotonic())):
            _signal(record, signal.SIGKILL)
            _wait_gone(record, timeout_s)
            killed.append(record.name)
    return killed


def _signal(record: ProcessRecord, sig: signal.Signals) -> None:
    if fingerprint(record.pid) != record.fingerprint:
        return  # gone, or the pid now belongs to another process
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, sig)


def _wait_gone(record: ProcessRecord, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_running(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True
