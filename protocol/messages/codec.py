"""The message registry and the msgpack wire codec.

A frame is the msgpack array ``[type_id, [field, ...]]`` with fields in declaration
order. Decoding is strict: the frame must be exactly what ``encode`` writes for the
decoded message (re-encoding must give the same bytes, which rules out wide integer
forms, str-for-bin, maps and trailing data), every field must satisfy its kind, and
the frame must fit its type's size limit. Every failure is a ``MalformedMessage``.

Type ids are fixed forever: a retired id stays retired (``RETIRED_TYPE_IDS``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from typing import Any, ClassVar, TypeVar

import msgpack

from protocol.messages.errors import (
    InvalidMessageValue,
    MalformedMessage,
    NonCanonicalEncoding,
    OversizedMessage,
    UnexpectedMessageType,
    UnknownMessageType,
)
from protocol.messages.fields import Kind, Nested

KIND = "provernet.kind"
# Type ids that once named a message and must never be reused.
RETIRED_TYPE_IDS: frozenset[int] = frozenset()
# The largest frame any message type allows (direct-stream messages); see MAX_SIZE per type.
MAX_FRAME_BYTES = 4 << 20

M = TypeVar("M", bound="Message")
R_ = TypeVar("R_", bound="Record")


def wire(kind: Kind) -> Any:
    """Declare a dataclass field carried on the wire as ``kind``."""
    return dataclasses.field(metadata={KIND: kind})


def _kinds(cls: type[Any]) -> list[tuple[str, Kind]]:
    return [(f.name, f.metadata[KIND]) for f in dataclasses.fields(cls)]


class Record:
    """A frozen dataclass of wire fields; values are checked on construction."""

    def __post_init__(self) -> None:
        for name, kind in _kinds(type(self)):
            why = kind.problem(getattr(self, name))
            if why is not None:
                raise InvalidMessageValue(f"{type(self).__name__}.{name}: {why}")
        why = self.inconsistency()
        if why is not None:
            raise InvalidMessageValue(f"{type(self).__name__}: {why}")

    def inconsistency(self) -> str | None:
        """Why the fields contradict each other, or None; overridden where it matters."""
        return None


class Message(Record):
    """A registered wire message."""

    TYPE_ID: ClassVar[int]
    MAX_SIZE: ClassVar[int]
    GOSSIP: ClassVar[bool]
    # The field holding the account that must have signed the gossip envelope, if any.
    SIGNER_FIELD: ClassVar[str | None] = None


REGISTRY: dict[int, type[Message]] = {}


def register(
    type_id: int, max_size: int, *, gossip: bool, signer_field: str | None = None
) -> Callable[[type[M]], type[M]]:
    """Class decorator: give a message class its fixed type id and size limit."""

    def apply(cls: type[M]) -> type[M]:
        if type_id in REGISTRY or type_id in RETIRED_TYPE_IDS or not 0 < type_id < 1 << 16:
            raise InvalidMessageValue(f"type id {type_id} is taken, retired or out of range")
        if not 0 < max_size <= MAX_FRAME_BYTES:
            raise InvalidMessageValue(f"{cls.__name__}: size limit {max_size} out of range")
        cls.TYPE_ID, cls.MAX_SIZE, cls.GOSSIP = type_id, max_size, gossip
        cls.SIGNER_FIELD = signer_field
        REGISTRY[type_id] = cls
        return cls

    return apply


def record_to_array(record: Record) -> list[Any]:
    """A record's msgpack-native field array."""
    return [kind.to_wire(getattr(record, name)) for name, kind in _kinds(type(record))]


def record_from_array(cls: type[R_], raw: object) -> R_:
    """Build ``cls`` from a decoded field array; raises MalformedMessage."""
    kinds = _kinds(cls)
    if type(raw) is not list or len(raw) != len(kinds):
        raise MalformedMessage(f"{cls.__name__}: expected an array of {len(kinds)} fields")
    record = object.__new__(cls)
    for (name, kind), item in zip(kinds, raw, strict=True):
        value = kind.from_wire(item)
        why = kind.problem(value)
        if why is not None:
            raise MalformedMessage(f"{cls.__name__}.{name}: {why}")
        object.__setattr__(record, name, value)
    why = record.inconsistency()
    if why is not None:
        raise MalformedMessage(f"{cls.__name__}: {why}")
    return record


def nested(cls: type[Record]) -> Nested:
    """The kind of a field holding one ``cls`` record."""
    return Nested(cls, record_to_array, record_from_array)


def _pack(obj: object) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def encode(message: Message) -> bytes:
    """The frame for ``message``; raises InvalidMessageValue if it exceeds its type's limit."""
    data = _pack([message.TYPE_ID, record_to_array(message)])
    if len(data) > message.MAX_SIZE:
        raise InvalidMessageValue(
            f"{type(message).__name__} encodes to {len(data)} bytes, over its {message.MAX_SIZE}"
        )
    return data


def _unpack(data: bytes, limit: int) -> object:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_str_len=limit,
            max_bin_len=limit,
            max_array_len=limit,
            max_map_len=0,
            max_ext_len=0,
        )
    # ExtraData, FormatError, StackError and UnicodeDecodeError are ValueErrors; OutOfData is
    # an UnpackException; unhashable map keys raise TypeError.
    except (msgpack.UnpackException, ValueError, TypeError) as exc:
        raise MalformedMessage(f"not a msgpack frame: {type(exc).__name__}: {exc}") from None


def decode(
    data: bytes,
    accept: Collection[type[Message]] | None = None,
    max_size: int = MAX_FRAME_BYTES,
) -> Message:
    """The message in ``data``; raises a MalformedMessage subclass on any defect.

    ``accept`` limits the types this context takes; ``max_size`` caps the frame before
    its type is known (a gossip validator passes its topic's limit).
    """
    if type(data) is not bytes:
        raise MalformedMessage(f"expected bytes, got {type(data).__name__}")
    limit = min(max_size, MAX_FRAME_BYTES)
    if len(data) > limit:
        raise OversizedMessage(f"{len(data)} bytes exceed the limit of {limit}")
    # Every element takes at least one byte: no length in a frame may exceed the frame's.
    frame = _unpack(data, len(data))
    if type(frame) is not list or len(frame) != 2 or type(frame[0]) is not int:
        raise MalformedMessage("a frame is [type_id, fields]")
    cls = REGISTRY.get(frame[0])
    if cls is None:
        raise UnknownMessageType(f"unknown message type id {frame[0]}")
    if accept is not None and cls not in accept:
        raise UnexpectedMessageType(f"{cls.__name__} is not accepted here")
    if len(data) > cls.MAX_SIZE:
        raise OversizedMessage(f"{cls.__name__}: {len(data)} bytes exceed {cls.MAX_SIZE}")
    message = record_from_array(cls, frame[1])
    if _pack([cls.TYPE_ID, record_to_array(message)]) != data:
        raise NonCanonicalEncoding(f"{cls.__name__}: not the canonical encoding")
    return message


def decode_as(data: bytes, cls: type[M], max_size: int = MAX_FRAME_BYTES) -> M:
    """Decode a frame that must hold a ``cls`` message."""
    message = decode(data, (cls,), max_size)
    assert isinstance(message, cls)
    return message
