"""The zkML compiler: ONNX model -> quantized program -> R1CS and witness generator.

See ``model`` for the compiled model's interface and ``poseidon_gadget`` for the
input commitment the circuit exposes as its first public signal.
"""

from protocol.zkml.compiler import accuracy_report, compile_model
from protocol.zkml.errors import CompileError, InputError
from protocol.zkml.model import FORMAT_VERSION as CIRCUIT_FORMAT_VERSION
from protocol.zkml.model import CompiledModel, CompileOptions, Witness
from protocol.zkml.onnx_import import SUPPORTED_OPS
from protocol.zkml.report import AccuracyReport, Approximation, CompileReport, format_report

__all__ = [
    "CIRCUIT_FORMAT_VERSION",
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
