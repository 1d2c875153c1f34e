"""The committed artifacts are what the pinned solc makes of the committed sources."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from node import tools

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


@pytest.mark.slow
def test_artifacts_are_up_to_date() -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to run the pinned solc"
    assert (tools.node_modules() / "solc").is_dir(), "run `python -m node.tools install`"
    proc = subprocess.run(
        [node, str(CONTRACTS / "compile.mjs"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr


def test_artifacts_hold_abi_and_hex_bytecode() -> None:
    names = sorted(p.stem for p in (CONTRACTS / "build").glob("*.json"))
    assert names == ["JobMarket", "ModelRegistry", "ProverStaking"]
    for name in names:
        art = json.loads((CONTRACTS / "build" / f"{name}.json").read_text())
        assert art["contractName"] == name
        assert art["bytecode"].startswith("0x60")
        assert art["deployedBytecode"].startswith("0x")
        assert any(item["type"] == "event" for item in art["abi"])
        # EIP-170: deployed code must stay under 24,576 bytes.
        assert len(art["deployedBytecode"]) // 2 - 1 < 24_576
