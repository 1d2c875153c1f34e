"""Compiling an ONNX model into a circuit, and using the compiled model.

``compile_model`` imports the ONNX bytes into the float IR, chooses ranges (from
calibration samples, or interval bounds over ``CompileOptions.input_range``),
lowers the IR to the quantized program and emits its R1CS. A ``CompiledModel``
quantizes inputs, commits to them, generates witnesses and reports.

Public signals of the circuit: ``[input commitment, outputs...]``; private inputs:
the quantized input values, then the salt (see ``poseidon_gadget`` for the exact
commitment).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from protocol.errors import RemoteProtocolError
from protocol.r1cs.system import R1CS, R, first_unsatisfied
from protocol.zkml import affine, floatir, gadgets, lowering, poseidon_gadget, serialize
from protocol.zkml import program as program_mod
from protocol.zkml import report as report_mod
from protocol.zkml.errors import CompileError, InputError
from protocol.zkml.floatir import Node
from protocol.zkml.program import Program
from protocol.zkml.report import CompileReport
from protocol.zkml.validate import validate_program

FORMAT_VERSION = 1
DEFAULT_INPUT_RANGE = (-1.0, 1.0)
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class CompileOptions:
    """Quantization choices.

    The defaults are ``PRECISIONS["standard"]``; ``with_precision`` picks another preset.
    ``activation_bits`` (B): signed bits of every rescaled tensor; each tensor's
    power-of-two scale (its fractional bits) is the largest that fits its range.
    A rescale costs k + B constraints per element (k: the shift back to the
    tensor's scale, about ``weight_bits``), plus one for a fused ReLU.
    ``weight_bits``: signed bits of weights and other constant coefficients (free
    in the circuit, but each rescale's shift grows with them: 16 bits against 10 cut
    the digits models' logit error 20x for ~15 % more constraints). ``input_bits``:
    signed bits per input value, each costing one constraint. ``headroom``: calibrated ranges are
    multiplied by it before choosing scales. ``input_range``: the accepted input
    interval; defaults to the calibration samples' range, or [-1, 1] without
    samples, when tensor ranges come from interval bounds instead. ``reveal``: what
    the proof makes public beside the input commitment: ``logits`` (every output),
    ``argmax`` (only the index of the largest output) or ``threshold:I:V`` (only the
    bit ``output[I] < V``, compared at the output's fixed-point precision).
    ``smooth_tolerance``: the interpolation error smooth functions (Sigmoid, Tanh, Erf,
    exp in Softmax, ...) are placed for; each halving of it costs about 1.4x their
    knots, one constraint per knot and element.
    """

    activation_bits: int = 18
    weight_bits: int = 16
    input_bits: int = 10
    headroom: float = 2.0
    input_range: tuple[float, float] | None = None
    reveal: str = "logits"
    smooth_tolerance: float = 0.001

    def with_precision(self, name: str) -> CompileOptions:
        """These options with the widths and interpolation tolerance of preset ``name``."""
        if name not in PRECISIONS:
            raise CompileError(
                f"precision {name!r} is not one of {', '.join(PRECISIONS)}",
                hint="low is cheapest, high most accurate; standard is the default",
            )
        activation, weight, tolerance = PRECISIONS[name]
        return replace(
            self, activation_bits=activation, weight_bits=weight, smooth_tolerance=tolerance
        )

    def check(self) -> None:
        """Raise CompileError when the options are out of their supported ranges."""
        parse_reveal(self.reveal)
        ok = (
            2 <= self.activation_bits <= 32
            and 2 <= self.weight_bits <= 24
            and 2 <= self.input_bits <= 32
            and self.headroom >= 1.0
            and 1e-6 <= self.smooth_tolerance <= 0.1
            and (self.input_range is None or self.input_range[0] < self.input_range[1])
        )
        if not ok:
            raise CompileError(
                f"invalid options {self}",
                hint="use bits in 2..32, headroom >= 1, lo < hi, smooth_tolerance in 1e-6..0.1",
            )


# (activation_bits, weight_bits) per preset. Measured on the reference models
# (bench/results/precision.md): max logit error 0.05-0.13 at low, 0.0025-0.018 at
# standard, down to 0.0002 at high (where inputs, not weights, limit the 784-input MLP);
# constraints about +4-21 % and +7-44 % over low.
PRECISIONS: dict[str, tuple[int, int, float]] = {
    "low": (16, 10, 0.005),
    "standard": (18, 16, 0.001),
    "high": (22, 20, 0.0002),
}


def parse_reveal(text: str) -> tuple[str, int, float]:
    """``(mode, index, value)`` of a reveal option; CompileError when malformed."""
    if text in ("logits", "argmax"):
        return text, 0, 0.0
    parts = text.split(":")
    try:
        if len(parts) == 3 and parts[0] == "threshold":
            index, value = int(parts[1]), float(parts[2])
            if index >= 0 and math.isfinite(value):
                return "threshold", index, value
    except ValueError:
        pass
    raise CompileError(
        f"reveal {text!r} is not understood",
        hint="use logits, argmax, or threshold:OUTPUT:VALUE (e.g. threshold:1:0.1)",
    )


@dataclass(frozen=True)
class Witness:
    """A full wire assignment and what the proof will show."""

    values: list[int]
    outputs_q: list[int]
    commitment: int
    public: list[int]


@dataclass(frozen=True)
class CompiledModel:
    """A model compiled to a circuit (see module docstring)."""

    r1cs: R1CS
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_name: str
    output_name: str
    report: CompileReport
    program: Program = field(repr=False)
    nodes: tuple[Node, ...] = field(repr=False)
    input_range: tuple[float, float] = (-1.0, 1.0)

    @property
    def input_scale(self) -> int:
        return self.report.input_scale

    @property
    def output_scale(self) -> int:
        return self.report.output_scale

    def _flat(self, x: NDArray[Any]) -> NDArray[Any]:
        x = np.asarray(x)
        if x.shape not in (self.input_shape, self.input_shape[1:]):
            raise InputError(f"input has shape {x.shape}, the model expects {self.input_shape}")
        return x.reshape(-1)

    def quantize_input(self, x: NDArray[Any]) -> IntArray:
        """Fixed-point input values; raises InputError on shape, NaN/inf or range."""
        flat = self._flat(np.asarray(x, dtype=np.float64))
        if not np.all(np.isfinite(flat)):
            raise InputError("input contains NaN or infinite values")
        lo, hi = self.input_range
        if np.any(flat < lo) or np.any(flat > hi):
            raise InputError(
                f"input values span [{flat.min():g}, {flat.max():g}], outside the calibrated range "
                f"[{lo:g}, {hi:g}]; recompile with calibration data covering such inputs"
            )
        half = 1 << (self.report.input_bits - 1)
        return np.clip(np.round(flat * 2.0**self.input_scale), -half, half - 1).astype(np.int64)

    def _check_quantized(self, x_q: NDArray[Any]) -> IntArray:
        arr = np.asarray(x_q)
        flat = arr if arr.shape == (self.program.n_inputs,) else self._flat(arr)
        if flat.dtype.kind not in "iu":
            raise InputError("quantized input must be integers (use quantize_input)")
        return flat.astype(np.int64)

    def input_commitment(self, x_q: NDArray[Any], salt: int) -> int:
        """The Poseidon commitment the circuit computes (see ``poseidon_gadget``).

        Raises InputError for a value outside the circuit's ``input_bits`` range: packing
        several values into one field element is injective only on that range, and an
        out-of-range input (``x0 + 2^B, x1 - 1``) would share the commitment of an in-range
        one while no proof of it exists.
        """
        flat = self._check_quantized(x_q)
        half = 1 << (self.report.input_bits - 1)
        if np.any(flat >= half) or np.any(flat < -half):
            bits = self.report.input_bits
            raise InputError(f"quantized input values must be {bits}-bit: in [{-half}, {half - 1}]")
        u = (flat + half).tolist()
        return poseidon_gadget.commitment_native(
            poseidon_gadget.pack(u, self.report.input_bits), _salt(salt)
        )

    def generate_witness(self, x_q: NDArray[Any], salt: int) -> Witness:
        """The witness for quantized input ``x_q``; raises InputError on range overflow."""
        values, outputs, commitment = self.program.witness(self._check_quantized(x_q), _salt(salt))
        return Witness(values, outputs, commitment, values[1 : 1 + self.r1cs.n_public])

    def provable_witness(self, x_q: NDArray[Any], salt: int, commitment: int) -> Witness:
        """The witness of an input that a prover can prove for a job committed to
        ``commitment``; raises InputError naming why not.

        A prover calls this before it accepts a job (and locks collateral): the values must
        lie in the circuit's input range, commit to ``commitment`` with ``salt``, pass every
        later layer's range check, and give a witness that satisfies every constraint.
        """
        witness = self.generate_witness(x_q, salt)
        if witness.commitment != commitment:
            raise InputError("the input and salt do not match the job's commitment")
        bad = first_unsatisfied(self.r1cs, witness.values)
        if bad is not None:
            raise InputError(f"the input's witness violates constraint {bad}; it cannot be proved")
        return witness

    def infer_quantized(self, x_q: NDArray[Any]) -> list[int]:
        """The circuit's integer outputs for ``x_q``, without building a witness."""
        vals = self.program.run(self._check_quantized(x_q))
        return [int(v) for v in vals[self.program.output].tolist()]

    def dequantize_output(self, outputs_q: Sequence[int]) -> list[float]:
        """Float values of integer outputs."""
        return [int(v) / 2.0**self.output_scale for v in outputs_q]

    def infer_float(self, x: NDArray[Any]) -> NDArray[np.float64]:
        """The float reference of the compiled IR (Sigmoid as its approximation)."""
        flat = self._flat(np.asarray(x, dtype=np.float64))
        env = floatir.evaluate(self.nodes, self.input_name, flat[None])
        out: NDArray[np.float64] = env[self.output_name][0].reshape(self.output_shape)
        return out

    def to_bytes(self) -> bytes:
        """Versioned msgpack of everything but the constraints (store the R1CS beside it)."""
        r1cs = self.r1cs
        meta = _Meta(
            self.input_shape,
            self.output_shape,
            self.input_name,
            self.output_name,
            self.input_range,
            (r1cs.n_wires, r1cs.n_public, r1cs.n_constraints),
        )
        body = serialize.encode((meta, self.report, self.program, self.nodes))
        return serialize.seal(FORMAT_VERSION, body)

    @classmethod
    def from_bytes(cls, data: bytes, r1cs: R1CS | None = None) -> CompiledModel:
        """Load ``to_bytes`` output; raises RemoteProtocolError on anything malformed.

        With ``r1cs`` (the stored circuit, checked against the recorded sizes) nothing
        is rebuilt; without it the constraints are regenerated from the stored program.
        """
        decoded = serialize.decode(serialize.unseal(data, FORMAT_VERSION), _TYPES)
        if not (isinstance(decoded, tuple) and len(decoded) == 4):
            raise RemoteProtocolError("malformed compiled model")
        meta, report, program, nodes = decoded
        ok = isinstance(meta, _Meta) and isinstance(report, CompileReport)
        if not ok or not all(isinstance(n, Node) for n in nodes):
            raise RemoteProtocolError("malformed compiled model")
        validate_program(program)
        if r1cs is None:
            r1cs = replace(program.emit(), sections=report.layers)
        sizes = (r1cs.n_wires, r1cs.n_public, r1cs.n_constraints)
        if sizes != meta.sizes or program.n_wires() != r1cs.n_wires:
            raise RemoteProtocolError("the R1CS does not match the compiled model")
        shapes = (meta.input_shape, meta.output_shape)
        names = (meta.input_name, meta.output_name)
        return cls(r1cs, *shapes, *names, report, program, nodes, meta.input_range)


@dataclass(frozen=True)
class _Meta:
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_name: str
    output_name: str
    input_range: tuple[float, float]
    sizes: tuple[int, int, int]  # the R1CS's wires, public signals and constraints


def _salt(salt: int) -> int:
    if not isinstance(salt, int) or not 0 <= salt < R:
        raise InputError("the salt must be an integer in [0, R)")
    return salt


_TYPES = {
    c.__name__: c
    for c in (
        _Meta,
        report_mod.CompileReport,
        report_mod.Approximation,
        lowering.TensorInfo,
        affine.Affine,
        program_mod.Program,
        program_mod.Source,
        program_mod.RequantStep,
        program_mod.ReluStep,
        program_mod.MaxStep,
        program_mod.MulStep,
        program_mod.DivStep,
        program_mod.SqrtStep,
        program_mod.ArgMaxStep,
        program_mod.BelowStep,
        program_mod.SegmentStep,
        program_mod.ViewStep,
        gadgets.RequantLayout,
        gadgets.ReluLayout,
        gadgets.MaxLayout,
        gadgets.DivLayout,
        gadgets.SqrtLayout,
        gadgets.ArgMaxLayout,
        gadgets.BelowLayout,
        gadgets.SegmentLayout,
        floatir.Node,
        floatir.Linear,
        floatir.Combine,
        floatir.Part,
        floatir.Pwl,
        floatir.MaxWindow,
        floatir.Product,
        floatir.Quotient,
        floatir.SquareRoot,
        floatir.ArgMaxWindow,
        floatir.Below,
    )
}
