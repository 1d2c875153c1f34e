"""Exit codes of the ``provernet`` command, one per kind of failure.

``circuit verify`` uses 0 (valid), 1 (invalid) and 2 (malformed files) as documented;
the rest tell scripts what went wrong without parsing messages.
"""

from __future__ import annotations

OK = 0
FAILED = 1  # the operation ran and said no: invalid proof, transaction reverted
USAGE = 2  # bad arguments, or a malformed / corrupt file
UNSUPPORTED_MODEL = 3  # the ONNX model cannot be compiled (op, shape, weights)
INPUT_REJECTED = 4  # the input has the wrong shape, NaN/inf, or is outside the calibrated range
ARTIFACT_MISMATCH = 5  # files belong to another model or circuit, or fail their hash check
TOOL_MISSING = 6  # a required external tool (npm, anvil, snarkjs) is missing
UNAVAILABLE = 7  # a daemon or RPC endpoint did not answer
INTERRUPTED = 130


class CliError(Exception):
    """A failure to report as one line with its exit code."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code
