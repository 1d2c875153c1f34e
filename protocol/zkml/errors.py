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


class UnsupportedNodesError(CompileError):
    """Every node of a model that the compiler refused, found in one pass; ``problems``
    holds one CompileError per node (the first also fills node_name, op_type, hint)."""

    def __init__(self, problems: tuple[CompileError, ...]) -> None:
        first = problems[0]
        super().__init__("", first.node_name, first.op_type, first.hint)
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        self.args = (f"{len(problems)} node(s) cannot be compiled:\n{lines}",)

    def __str__(self) -> str:
        return str(self.args[0])


def unsupported(node_name: str, op_type: str, hint: str) -> CompileError:
    """The error for a node whose op or attributes the compiler does not support."""
    return CompileError("is not supported", node_name, op_type, hint)


class InputError(RemoteProtocolError):
    """An input that cannot be quantized or proven with this compiled model."""
