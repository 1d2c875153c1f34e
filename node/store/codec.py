"""The job lifecycle objects of protocol.market as versioned JSON blobs.

A blob is ``{"v": JOB_BLOB_VERSION, "type": <class name>, "fields": {...}}``.
Fields are encoded by their declared types: ints and strings as themselves,
bytes as hex, enums by value, wire messages (``Bid``, ``JobAnnouncement``) as
the hex of their canonical msgpack frame, dataclasses field by field. Decoding
reads the same types back, so a field added to a lifecycle with a default still
decodes old blobs; anything else that no longer fits raises ``CorruptRecordError``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from typing import Any

from node.store.errors import CorruptRecordError
from protocol.market import ProverJob, RequesterJob
from protocol.messages import Message, decode_as, encode
from protocol.messages.errors import MalformedMessage

# Version 2: the settlement-v2 lifecycles (accept windows, re-awards, no rescue mode).
JOB_BLOB_VERSION = 2
JOB_TYPES: dict[str, type[Any]] = {"RequesterJob": RequesterJob, "ProverJob": ProverJob}
Job = RequesterJob | ProverJob


def encode_job(job: Job) -> str:
    """The blob of ``job``."""
    name = type(job).__name__
    if JOB_TYPES.get(name) is not type(job):
        raise TypeError(f"not a lifecycle object: {type(job).__name__}")
    return json.dumps({"v": JOB_BLOB_VERSION, "type": name, "fields": _encode(job)})


def decode_job(blob: str) -> Job:
    """The lifecycle object in ``blob``; raises CorruptRecordError."""
    try:
        data = json.loads(blob)
        if data["v"] != JOB_BLOB_VERSION:
            raise CorruptRecordError(
                f"a job of blob version {data['v']} (another settlement protocol); this "
                f"provernet reads version {JOB_BLOB_VERSION}: settle such jobs with the release "
                "that made them, then start this node on a new home"
            )
        cls = JOB_TYPES[data["type"]]
        job: Job = _decode(cls, data["fields"])
        return job
    except (KeyError, TypeError, ValueError, MalformedMessage) as exc:
        raise CorruptRecordError(
            f"a job blob does not decode: {type(exc).__name__}: {exc}"
        ) from exc


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Message):
        return encode(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot store a {type(value).__name__}")


def _decode(kind: Any, raw: Any) -> Any:
    options = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if raw is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _decode(inner, raw)
    if kind in (int, str, bool):
        if type(raw) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {raw!r}")
        return raw
    if kind is bytes:
        return bytes.fromhex(raw)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(raw)
    if isinstance(kind, type) and issubclass(kind, Message):
        return decode_as(bytes.fromhex(raw), kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        names = [f.name for f in dataclasses.fields(kind) if f.init]
        if not set(raw) <= set(names):
            raise KeyError(f"unknown fields {sorted(set(raw) - set(names))}")
        return kind(**{name: _decode(hints[name], raw[name]) for name in names if name in raw})
    raise TypeError(f"cannot read a {kind}")
