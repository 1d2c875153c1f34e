"""Run the pinned snarkjs command line from tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from node import tools


def run_snarkjs(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``snarkjs ARGS`` in ``cwd``; never raises on a non-zero exit status."""
    snarkjs = tools.require("snarkjs")
    return subprocess.run(
        [str(snarkjs), *(str(a) for a in args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
