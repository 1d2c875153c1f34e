"""Versioned msgpack encoding of the compiler's frozen dataclasses and numpy arrays.

``seal`` wraps an encoded body in an envelope ``[MAGIC, version, sha256(body),
body]`` so that any corruption is detected before decoding. Only the dataclasses
in the caller's registry and arrays of the dtypes in ``DTYPES`` can be decoded;
anything else, and any malformed input, raises ``RemoteProtocolError``. Lists
decode as tuples (the dataclasses hold tuples).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

import msgpack
import numpy as np

from protocol.errors import RemoteProtocolError

DTYPES = {"<i8": np.dtype("<i8"), "<f8": np.dtype("<f8"), "|b1": np.dtype("|b1")}
MAGIC = "provernet-zkml"
MAX_BYTES = 1 << 30  # 1 GiB: larger compiled models are rejected rather than decoded


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        if arr.dtype.str not in DTYPES:
            arr = arr.astype(np.int64)
        return {"#nd": [arr.dtype.str, list(arr.shape), arr.tobytes()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"#dc": type(value).__name__, "f": fields}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def encode(value: Any) -> bytes:
    """msgpack bytes for a tree of registered dataclasses, arrays and plain values."""
    return bytes(msgpack.packb(_encode(value), use_bin_type=True))


def _decode(value: Any, types: Mapping[str, type]) -> Any:
    if isinstance(value, list):
        return tuple(_decode(v, types) for v in value)
    if not isinstance(value, dict):
        return value
    if "#nd" in value:
        dtype, shape, raw = value["#nd"]
        arr = np.frombuffer(raw, dtype=DTYPES[dtype])
        return arr.reshape(tuple(int(d) for d in shape)).copy()
    cls = types[value["#dc"]]
    fields = {k: _decode(v, types) for k, v in value["f"].items()}
    return cls(**fields)


def decode(data: bytes, types: Mapping[str, type]) -> Any:
    """The value ``encode`` produced; raises RemoteProtocolError on anything malformed."""
    if len(data) > MAX_BYTES:
        raise RemoteProtocolError(f"compiled model of {len(data)} bytes exceeds {MAX_BYTES}")
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=False, max_bin_len=MAX_BYTES)
        return _decode(raw, types)
    except RemoteProtocolError:
        raise
    except Exception as exc:  # msgpack, numpy and constructors raise many types on garbage
        raise RemoteProtocolError(f"malformed compiled model: {type(exc).__name__}: {exc}") from exc


def seal(version: int, body: bytes) -> bytes:
    """The envelope holding ``body`` (see module docstring)."""
    digest = hashlib.sha256(body).digest()
    return bytes(msgpack.packb([MAGIC, version, digest, body], use_bin_type=True))


def unseal(data: bytes, version: int) -> bytes:
    """The body of an envelope of this ``version``; raises RemoteProtocolError otherwise."""
    try:
        magic, got, digest, body = msgpack.unpackb(data, raw=False, max_bin_len=MAX_BYTES)
    except Exception as exc:  # msgpack raises several types on garbage
        raise RemoteProtocolError(f"malformed compiled model: {type(exc).__name__}") from exc
    if magic != MAGIC or not isinstance(body, bytes):
        raise RemoteProtocolError("not a provernet compiled model")
    if got != version:
        raise RemoteProtocolError(f"compiled model format {got}, expected {version}")
    if hashlib.sha256(body).digest() != digest:
        raise RemoteProtocolError("compiled model is corrupt (digest mismatch)")
    return body
