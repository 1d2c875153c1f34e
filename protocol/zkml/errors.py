"""Errors of the zkML compiler: a model it cannot compile, an input it cannot prove."""

from __future__ import annotations

from protocol.errors import RemoteProtocolError


class CompileError(RemoteProtocolError):
    """An ONNX model (or its calibration data) that cannot be compiled into a circuit.

    ``node_name`` and ``op_type`` name the offending node when there is one;
    ``hint`` says what the model owner can do about it.
    """

    def __init__(
        self, message: str, node_name: str = "", op_type: str = "", hint: str = ""
    ) -> None:
        self.node_name = node_name
        self.op_type = op_type
        self.hint = hint
        where = f"node '{node_name}' " if node_name else ""
        if op_type:
            where = f"{where}(op {op_type}) " if node_name else f"op {op_type} "
        full = f"{where}{message}"
        if hint:
            full = f"{full}: {hint}"
        super().__init__(full)


def unsupported(node_name: str, op_type: str, hint: str) -> CompileError:
    """The error for a node whose op or attributes the compiler does not support."""
    return CompileError("is not supported", node_name, op_type, hint)


class InputError(RemoteProtocolError):
    """An input that cannot be quantized or proven with this compiled model."""
