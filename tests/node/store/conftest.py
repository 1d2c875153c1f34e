"""A fresh store per test, on a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.store import Store

CHAIN_ID = 31337
CONTRACTS = {
    "ModelRegistry": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "ProverStaking": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "JobMarket": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store.open(tmp_path / "node.db", chain_id=CHAIN_ID, contracts=CONTRACTS, clock=clock) as s:
        yield s
