"""Fixtures shared by every test package: the real local chain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from node.anvil import AnvilProcess, start_anvil


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilProcess]:
    """One real anvil chain for the whole session; tests isolate themselves with snapshots."""
    with start_anvil() as chain:
        yield chain
