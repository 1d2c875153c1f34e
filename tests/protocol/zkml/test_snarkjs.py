"""snarkjs, an independent checker, accepts a compiled model's R1CS and witness."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.r1cs import binfmt
from protocol.zkml import compile_model
from tests.protocol.snarkjs_cli import run_snarkjs
from tests.protocol.zkml.helpers import SALT, calibration
from tests.protocol.zkml.models import CASES


@pytest.mark.snarkjs
@pytest.mark.slow
def test_snarkjs_checks_the_witness(tmp_path: Path) -> None:
    data, shape = CASES["conv_bn_maxpool"]()
    cal = calibration(shape)
    model = compile_model(data, cal)
    witness = model.generate_witness(model.quantize_input(cal[0]), SALT)
    (tmp_path / "c.r1cs").write_bytes(binfmt.r1cs_to_bytes(model.r1cs))
    (tmp_path / "good.wtns").write_bytes(binfmt.wtns_to_bytes(witness.values))
    wrong = list(witness.values)
    wrong[2] = (wrong[2] + 1) % model.r1cs.prime  # the first output, off by one
    (tmp_path / "bad.wtns").write_bytes(binfmt.wtns_to_bytes(wrong))
    info = run_snarkjs("r1cs", "info", "c.r1cs", cwd=tmp_path)
    assert f"# of Constraints: {model.r1cs.n_constraints}" in info.stdout
    assert f"# of Outputs: {model.r1cs.n_public}" in info.stdout
    good = run_snarkjs("wtns", "check", "c.r1cs", "good.wtns", cwd=tmp_path)
    assert "WITNESS IS CORRECT" in good.stdout
    bad = run_snarkjs("wtns", "check", "c.r1cs", "bad.wtns", cwd=tmp_path)
    assert "WITNESS IS CORRECT" not in bad.stdout
