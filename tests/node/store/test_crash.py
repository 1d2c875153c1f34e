"""A writer killed with SIGKILL mid-burst leaves a sound store: each change whole or absent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from node.store import IntentStatus, Role, Store
from tests.node.store.conftest import CHAIN_ID, CONTRACTS

# Each step journals a job, its createJob intent and the signed transaction in ONE
# transaction, then reports the step on stdout; it runs until killed.
WRITER = """
import json, sys
from pathlib import Path
from node.store import Role, Store
from protocol.market import new_requester_job

contracts = json.loads(sys.argv[2])
with Store.open(Path(sys.argv[1]), chain_id=int(sys.argv[3]), contracts=contracts) as store:
    start = len(store.list_jobs())
    for step in range(start, start + 1_000_000):
        job, _ = new_requester_job(max_fee=step + 1, collateral=0, bid_deadline=step,
                                   accept_window=1, proof_window=1)
        with store.transaction():
            key = store.add_job(Role.REQUESTER, job)
            intent = store.record_intent("create_job", key, {"step": step, "pad": "x" * 3000})
            store.mark_sent(intent, "0x%064x" % step, step)
        print(step, flush=True)
"""


def kill_mid_burst(path: Path, steps: int) -> int:
    """Run the writer until it has reported ``steps`` commits, SIGKILL it; the last reported."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), json.dumps(CONTRACTS), str(CHAIN_ID)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    last = -1
    for _ in range(steps):
        last = int(writer.stdout.readline())
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    return last


def check_whole(path: Path, acknowledged: int) -> int:
    with Store.open(path, chain_id=CHAIN_ID, contracts=CONTRACTS) as store:
        assert store.integrity_problems() == []
        jobs = store.list_jobs(Role.REQUESTER)
        intents = store.open_intents()
        # Every acknowledged commit survived; nothing half-written did.
        assert len(jobs) == len(intents) > acknowledged
        for step, (job, intent) in enumerate(zip(jobs, intents, strict=True)):
            assert job.job.max_fee == step + 1
            assert intent.job_key == job.key
            assert intent.params == {"step": step, "pad": "x" * 3000}
            assert intent.status is IntentStatus.SENT
            assert (intent.tx_hash, intent.nonce) == (f"0x{step:064x}", step)
        return len(jobs)


def test_sigkill_during_a_burst_of_writes_leaves_every_change_whole_or_absent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.db"
    first = check_whole(path, kill_mid_burst(path, 150))
    # The killed store is opened, written to and killed again.
    second = check_whole(path, kill_mid_burst(path, 150))
    assert second > first
