"""What compilation produced, for people: costs per layer, scales, approximations, accuracy."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.zkml.lowering import TensorInfo


@dataclass(frozen=True)
class Approximation:
    """A node computed approximately, with a bound on its error and the largest seen."""

    node: str
    op_type: str
    method: str
    max_error: float  # proven bound on |approximation - exact| over all inputs
    sampled_error: float  # the largest error found on a fine grid


@dataclass(frozen=True)
class CompileReport:
    """Per-layer constraint counts (summing to the total), tensors, ops and approximations."""

    ops: tuple[str, ...]
    opset: int
    layers: tuple[tuple[str, int], ...]
    tensors: tuple[TensorInfo, ...]
    approximations: tuple[Approximation, ...]
    n_constraints: int
    n_wires: int
    n_public: int
    input_scale: int
    input_bits: int
    input_range: tuple[float, float]
    output_scale: int
    calibration_samples: int  # 0 when ranges come from interval bounds
    reveal: str = "logits"  # what the public outputs are (CompileOptions.reveal)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready values (for manifests and ``format_report``)."""
        return {
            "constraints": self.n_constraints,
            "wires": self.n_wires,
            "public_signals": self.n_public,
            "opset": self.opset,
            "ops": list(self.ops),
            "layers": [{"name": n, "constraints": c} for n, c in self.layers],
            "input": {
                "bits": self.input_bits,
                "scale": self.input_scale,
                "range": list(self.input_range),
            },
            "output_scale": self.output_scale,
            "reveal": self.reveal,
            "calibration_samples": self.calibration_samples,
            "tensors": [dataclasses.asdict(t) for t in self.tensors],
            "approximations": [dataclasses.asdict(a) for a in self.approximations],
        }

    def summary(self) -> str:
        """A human-readable table of the report."""
        return "\n".join(format_report(self.to_json()))


def format_report(info: Mapping[str, Any]) -> list[str]:
    """Human-readable lines for a report in its ``to_json`` form."""
    head = f"{info['constraints']} constraints, {info['wires']} wires"
    lines = [f"{head}, {info['public_signals']} public signals"]
    total = max(1, sum(la["constraints"] for la in info["layers"]))
    lines += [
        f"  {la['name']:<32} {la['constraints']:>8}  {100 * la['constraints'] / total:5.1f} %"
        for la in info["layers"]
    ]
    n_cal = info["calibration_samples"]
    ranges = f"calibrated on {n_cal} samples" if n_cal else "interval bounds"
    inp = info["input"]
    lines.append(
        f"input range [{inp['range'][0]:g}, {inp['range'][1]:g}] ({ranges}), "
        f"{inp['bits']}-bit inputs at scale 2^{inp['scale']}; "
        f"outputs at scale 2^{info['output_scale']}"
    )
    lines += [
        f"  tensor {t['name']:<28} scale 2^{t['scale']:<4} {t['bits']:>3} bits  "
        f"[{t['lo']}, {t['hi']}]  ({t['layer']})"
        for t in info["tensors"]
    ]
    lines += [
        f"  {a['node']} ({a['op_type']}): {a['method']}; |error| <= {a['max_error']:.4g} "
        f"(largest seen {a['sampled_error']:.4g})"
        for a in info["approximations"]
    ]
    return lines


@dataclass(frozen=True)
class AccuracyReport:
    """How closely the quantized circuit follows reference float outputs."""

    samples: int
    rejected: int  # samples whose input or intermediates left the calibrated range
    max_abs_error: float
    mean_abs_error: float
    argmax_agreement: float  # fraction of accepted samples with the same argmax

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return dataclasses.asdict(self)
