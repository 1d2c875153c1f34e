"""What compilation produced, for people: costs per layer, scales, approximations, accuracy."""

from __future__ import annotations

from dataclasses import dataclass

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

    def summary(self) -> str:
        """A human-readable table of the report."""
        head = f"{self.n_constraints} constraints, {self.n_wires} wires"
        lines = [f"{head}, {self.n_public} public signals"]
        lines += [f"  {name:<32} {count:>8}" for name, count in self.layers]
        ranges = (
            f"calibrated on {self.calibration_samples} samples"
            if self.calibration_samples
            else "interval bounds"
        )
        lines.append(
            f"input range [{self.input_range[0]:g}, {self.input_range[1]:g}] ({ranges}), "
            f"{self.input_bits}-bit inputs at scale 2^{self.input_scale}; "
            f"outputs at scale 2^{self.output_scale}"
        )
        lines += [
            f"  tensor {t.name:<28} scale 2^{t.scale:<4} {t.bits:>3} bits  "
            f"[{t.lo}, {t.hi}]  ({t.layer})"
            for t in self.tensors
        ]
        lines += [
            f"  {a.node} ({a.op_type}): {a.method}; |error| <= {a.max_error:.4g} "
            f"(largest seen {a.sampled_error:.4g})"
            for a in self.approximations
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class AccuracyReport:
    """How closely the quantized circuit follows reference float outputs."""

    samples: int
    rejected: int  # samples whose input or intermediates left the calibrated range
    max_abs_error: float
    mean_abs_error: float
    argmax_agreement: float  # fraction of accepted samples with the same argmax
