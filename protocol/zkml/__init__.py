"""The zkML compiler: ONNX model -> quantized program -> R1CS and witness generator.

The pipeline, one module per stage:

- ``onnx_import`` (with ``onnx_ops``, ``onnx_spatial``, ``onnx_table``): ONNX bytes
  to the float IR of ``floatir`` (linear maps, sums, piecewise-linear activations
  from ``activations``, window maxima, products), constants folded;
- ``compiler``: ranges from calibration samples or interval bounds, then
  ``lowering`` chooses scales and gadgets, producing a ``program.Program`` whose
  free part is ``affine.Affine`` maps and whose constrained part is the gadgets of
  ``gadgets`` and ``poseidon_gadget``;
- ``model``: the ``CompiledModel`` (quantize, commit, witness, dequantize, float
  reference, serialization via ``serialize`` and ``validate``) and ``report``.

Public signals: ``[input commitment, outputs...]``. ``SUPPORTED_OPS`` includes
Shape, Gather and Cast, accepted only where they compute constants (shape
arithmetic exported by PyTorch).
"""

from protocol.zkml.compiler import accuracy_report, compile_model
from protocol.zkml.errors import CompileError, InputError
from protocol.zkml.model import FORMAT_VERSION as CIRCUIT_FORMAT_VERSION
from protocol.zkml.model import PRECISIONS, CompiledModel, CompileOptions, Witness
from protocol.zkml.onnx_import import SUPPORTED_OPS
from protocol.zkml.report import AccuracyReport, Approximation, CompileReport, format_report

__all__ = [
    "CIRCUIT_FORMAT_VERSION",
    "PRECISIONS",
    "SUPPORTED_OPS",
    "AccuracyReport",
    "Approximation",
    "CompileError",
    "CompileOptions",
    "CompileReport",
    "CompiledModel",
    "InputError",
    "Witness",
    "accuracy_report",
    "compile_model",
    "format_report",
]
