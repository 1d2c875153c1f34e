"""A failed ``devnet up`` says which node failed, shows its log, and leaves nothing running."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devnet import nodes, orchestrate
from devnet.state import ANVIL, is_running, load_pids
from node.exit_codes import CliError

pytestmark = pytest.mark.slow


def test_a_node_that_dies_at_start_fails_up_and_everything_started_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash = "import sys; print('cannot start: no such thing', flush=True); sys.exit(3)"
    monkeypatch.setattr(nodes, "node_argv", lambda home: [sys.executable, "-c", crash])
    lines: list[str] = []
    with pytest.raises(CliError, match="node0 exited during start-up") as caught:
        orchestrate.up(tmp_path / "net", 2, 1, lines.append)
    assert "cannot start: no such thing" in str(caught.value)  # the end of its log
    records = load_pids(tmp_path / "net")
    assert set(records) == {ANVIL, "node0"}
    assert not [r.name for r in records.values() if is_running(r)]
    assert any("stopped the 2 processes" in line for line in lines)
    with pytest.raises(CliError, match="did not finish"):
        orchestrate.up(tmp_path / "net", 2, 1, lines.append)  # refused until `down --clean`
