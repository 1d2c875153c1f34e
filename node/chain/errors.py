"""Everything that can go wrong talking to the chain, as named exceptions.

``ChainError`` is the root. Transport and configuration problems have fixed
classes (``RpcUnreachable``, ``WrongChain``, ``NoContractCode``...). A contract
revert becomes a ``ContractRevert`` whose class is named after the Solidity error:
``RevertDecoder`` reads the error selectors of every ABI it is given and creates
one subclass per error name on first sight (``revert_class("JobNotAwarded")``), so
``except revert_class("JobNotAwarded")`` works without a hand-written list.
"""

# The names follow the Solidity errors and the interface the node uses, not N818.
# ruff: noqa: N818

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import collapse_if_tuple, function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3.exceptions import ContractLogicError

# Solidity's built-in revert payloads (docs: "Error handling: Assert, Require, Revert").
ERROR_STRING_SELECTOR = function_signature_to_4byte_selector("Error(string)")
PANIC_SELECTOR = function_signature_to_4byte_selector("Panic(uint256)")
PANIC_CODES = {
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function pointer",
}


class ChainError(Exception):
    """Root of every chain-client failure."""


def _short_reason(cause: BaseException) -> str:
    """The OS-level reason inside urllib3's nested messages, when there is one."""
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(cause))
    return found.group(0) if found else f"{type(cause).__name__}: {cause}"


class RpcUnreachable(ChainError):
    """The Ethereum RPC endpoint did not answer, even after retries."""

    def __init__(self, url: str, method: str, attempts: int, cause: BaseException) -> None:
        super().__init__(
            f"cannot reach the Ethereum RPC at {url} ({method} failed {attempts} time(s), "
            f"last: {_short_reason(cause)}); check that the node is running "
            "and that --rpc-url is right"
        )
        self.url, self.method, self.attempts = url, method, attempts


class WrongChain(ChainError):
    """The RPC endpoint serves another chain than the one configured."""

    def __init__(self, url: str, actual: int, expected: int) -> None:
        super().__init__(
            f"the RPC at {url} serves chain id {actual}, but chain id {expected} was "
            "expected; point --rpc-url at the right network or use a deployment file "
            f"made for chain {actual}"
        )
        self.actual, self.expected = actual, expected


class NoContractCode(ChainError):
    """A configured contract address holds no code on this chain."""

    def __init__(self, name: str, address: str, chain_id: int) -> None:
        super().__init__(
            f"no contract code for {name} at {address} on chain {chain_id}; the deployment "
            "file belongs to another chain or a reset devnet: redeploy with "
            "'provernet contracts deploy' or fix the address"
        )
        self.name, self.address, self.chain_id = name, address, chain_id


class InvalidRpcUrl(ChainError, ValueError):
    """The RPC endpoint is not an http(s) URL."""


class DeploymentFileError(ChainError):
    """A deployment file is missing, malformed or incomplete."""


class TransactionRejected(ChainError):
    """The RPC node refused a signed transaction (funds, fees, nonce...)."""


class NonceConflict(ChainError):
    """Our nonce was used by a transaction we did not send; the call did not run."""


class ReceiptTimeout(ChainError):
    """A sent transaction was not mined within the timeout; it may still land."""


class TransactionFailed(ChainError):
    """A transaction was mined but reverted."""

    def __init__(self, message: str, revert: ContractRevert | None = None) -> None:
        super().__init__(message)
        self.revert = revert


class ChainReorg(ChainError):
    """A block the event watcher already returned is no longer on the chain."""

    def __init__(self, block_number: int) -> None:
        super().__init__(
            f"block {block_number} was reorganised away after it was confirmed; raise the "
            "confirmation depth and resume from an earlier block"
        )
        self.block_number = block_number


class ContractRevert(ChainError):
    """A contract call reverted; ``name`` and ``error_args`` are the Solidity error's."""

    def __init__(self, name: str, args: Mapping[str, Any], data: bytes) -> None:
        shown = ", ".join(f"{key}={value!r}" for key, value in args.items())
        super().__init__(f"the contract reverted with {name}({shown})")
        self.name, self.error_args, self.data = name, dict(args), data


class UnknownRevert(ContractRevert):
    """Revert data that matches no known error selector."""


_classes: dict[str, type[ContractRevert]] = {}
_classes_lock = threading.Lock()


def revert_class(name: str) -> type[ContractRevert]:
    """The ``ContractRevert`` subclass for the Solidity error ``name`` (created once)."""
    with _classes_lock:
        cls = _classes.get(name)
        if cls is None:
            doc = f"The contract reverted with the Solidity error {name}."
            cls = type(name, (ContractRevert,), {"__doc__": doc, "__module__": __name__})
            _classes[name] = cls
        return cls


def normalise_abi_value(abi_type: str, value: Any) -> Any:
    """Addresses as checksum strings, as web3 returns them from calls."""
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type == "address[]":
        return [to_checksum_address(v) for v in value]
    return value


def _signature(entry: Mapping[str, Any]) -> tuple[str, list[str], list[str]]:
    types = [collapse_if_tuple(dict(arg)) for arg in entry.get("inputs", [])]
    names = [arg.get("name") or f"arg{i}" for i, arg in enumerate(entry.get("inputs", []))]
    return f"{entry['name']}({','.join(types)})", types, names


class RevertDecoder:
    """Turns revert data into named exceptions, using the error entries of the ABIs."""

    def __init__(self, abis: Iterable[Sequence[Mapping[str, Any]]] = ()) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {
            ERROR_STRING_SELECTOR: ("Error", ["string"], ["message"]),
            PANIC_SELECTOR: ("Panic", ["uint256"], ["code"]),
        }
        for abi in abis:
            for entry in abi:
                if entry.get("type") == "error":
                    signature, types, names = _signature(entry)
                    selector = function_signature_to_4byte_selector(signature)
                    self._errors[selector] = (str(entry["name"]), types, names)
                    revert_class(str(entry["name"]))

    @property
    def error_names(self) -> frozenset[str]:
        """Every error name this decoder knows."""
        return frozenset(name for name, _, _ in self._errors.values())

    def decode(self, data: bytes) -> ContractRevert:
        """The exception for ``data`` (selector + ABI-encoded arguments)."""
        if len(data) < 4:
            return UnknownRevert("a revert without an error selector", {}, bytes(data))
        known = self._errors.get(bytes(data[:4]))
        if known is None:
            return UnknownRevert(f"unknown error 0x{bytes(data[:4]).hex()}", {}, bytes(data))
        name, types, names = known
        try:
            values = abi_decode(types, bytes(data[4:]))
        except DecodingError:
            return UnknownRevert(f"malformed {name}", {"data": "0x" + bytes(data).hex()}, data)
        args = {n: normalise_abi_value(t, v) for n, t, v in zip(names, types, values, strict=True)}
        if name == "Panic":
            args["reason"] = PANIC_CODES.get(int(args["code"]), "unknown panic code")
        return revert_class(name)(name, args, bytes(data))


class TransactionUnsettled(ChainError):
    """A send failed in transport and its fate could not be checked yet.

    ``record`` was signed and may have reached the chain; the sender settles it
    (rebroadcasting the same bytes if it was dropped) before its next send, and the
    caller's store should keep it until ``TxSender.settle`` reports it mined.
    """

    def __init__(self, record: Any, cause: BaseException) -> None:
        super().__init__(
            f"{record.label}: transaction {record.tx_hash} (nonce {record.nonce}) was signed "
            f"but its delivery is unknown ({cause}); it is kept and will be settled before "
            "the next send"
        )
        self.record = record


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert payload carried by a web3 exception, if there is one."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if data is None:
        rpc_response = getattr(exc, "rpc_response", None) or {}
        error = rpc_response.get("error") if isinstance(rpc_response, dict) else None
        data = error.get("data") if isinstance(error, dict) else None
    if not isinstance(data, str):
        return None
    if data.startswith("Reverted "):
        data = data.split(" ", 1)[1]
    try:
        return bytes.fromhex(data.removeprefix("0x"))
    except ValueError:
        return None


def revert_from_web3(exc: Exception, decoder: RevertDecoder) -> ChainError:
    """The named error for a failed call or gas estimate that web3 reported."""
    data = revert_data(exc)
    if data is not None:
        return decoder.decode(data)
    message = str(getattr(exc, "message", None) or exc)
    if isinstance(exc, ContractLogicError):
        return UnknownRevert(message or "execution reverted", {}, b"")
    return TransactionRejected(f"the RPC node refused the call: {message}")
