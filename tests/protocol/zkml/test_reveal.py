"""``reveal``: the proof's public outputs are the argmax or one threshold bit, nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.r1cs.system import R, first_unsatisfied
from protocol.zkml import CompileError, CompileOptions, compile_model
from protocol.zkml.program import BelowStep
from tests.protocol.zkml.helpers import SALT, calibration, run_onnxruntime, unpinned_wires
from tests.protocol.zkml.models_layout import softmax_classifier

DATA, SHAPE = softmax_classifier(13)()
CAL = calibration(SHAPE, n=64, seed=3)


def test_argmax_reveals_only_the_class() -> None:
    model = compile_model(DATA, CAL, CompileOptions(reveal="argmax"))
    assert model.r1cs.n_public == 2  # the input commitment and the class
    assert model.report.reveal == "argmax"
    assert model.report.to_json()["reveal"] == "argmax"
    agree = 0
    for x in CAL[:24]:
        expected = int(np.argmax(run_onnxruntime(DATA, x)))
        witness = model.generate_witness(model.quantize_input(x), SALT)
        assert first_unsatisfied(model.r1cs, witness.values) is None
        assert witness.public == [witness.commitment, witness.outputs_q[0] % R]
        agree += witness.outputs_q == [expected]
    assert agree >= 23  # quantization may flip a near tie
    witness = model.generate_witness(model.quantize_input(CAL[0]), SALT)
    assert unpinned_wires(model.r1cs, list(witness.values)) == []


@pytest.mark.parametrize("value", [0.05, 0.2, 0.5])
def test_threshold_reveals_one_bit(value: float) -> None:
    model = compile_model(DATA, CAL, CompileOptions(reveal=f"threshold:2:{value}"))
    assert model.r1cs.n_public == 2
    for x in CAL[:16]:
        probability = float(run_onnxruntime(DATA, x).ravel()[2])
        witness = model.generate_witness(model.quantize_input(x), SALT)
        assert first_unsatisfied(model.r1cs, witness.values) is None
        if abs(probability - value) > 0.03:  # the circuit's own error is well below
            assert witness.outputs_q == [int(probability < value)]
        # the other answer, in the public output and the gadget's bit and product, fails
        # the gadget's range check
        (step,) = [s for s in model.program.steps if isinstance(s, BelowStep)]  # wired last
        x_value = int(model.program.run(model.quantize_input(x))[step.src][step.index[0]])
        base = model.r1cs.n_wires - step.lay.size
        forged = list(witness.values)
        flipped = 1 - forged[base]
        forged[2], forged[base], forged[base + 1] = flipped, flipped, flipped * x_value % R
        assert first_unsatisfied(model.r1cs, forged) is not None


@pytest.mark.parametrize(
    ("reveal", "message"),
    [("argmin", "not understood"), ("threshold:1", "not understood"),
     ("threshold:-1:0.5", "not understood"), ("threshold:x:0.5", "not understood"),
     ("threshold:1:nan", "not understood"), ("threshold:9:0.5", "names output 9")],
)  # fmt: skip
def test_a_bad_reveal_is_a_compile_error(reveal: str, message: str) -> None:
    with pytest.raises(CompileError, match=message):
        compile_model(DATA, CAL, CompileOptions(reveal=reveal))
