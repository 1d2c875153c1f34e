"""Field kinds: what one field of a wire message may hold and how it looks in msgpack.

Each kind maps a Python value to a msgpack-native value and back. ``problem``
returns why a value is not allowed (or None); the codec turns that into a
``LocalProtocolError`` when we build a message and a ``RemoteProtocolError`` when a
peer sent it. msgpack integers stop at 64 bits, so 256-bit quantities (amounts,
job ids, field elements) travel as exactly 32 big-endian bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The BN254 scalar field order r (EIP-197); public signals and the salt live below it.
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
U256_BYTES = 32
ADDRESS_BYTES = 20
HASH_BYTES = 32
SIGNATURE_BYTES = 65  # r (32) || s (32) || v (1), as JobMarket._recover reads it
# multihash codes a libp2p peer id may use: identity (inlined small keys) and sha2-256.
MULTIHASH_IDENTITY = 0x00
MULTIHASH_SHA2_256 = 0x12
MAX_PEER_ID_BYTES = 64


class Kind:
    """One field's allowed values and their msgpack form."""

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not allowed, or None when it is."""
        raise NotImplementedError

    def to_wire(self, value: Any) -> Any:
        """The msgpack-native form of an allowed value."""
        return value

    def from_wire(self, raw: object) -> Any:
        """The Python value for a msgpack-native value; check ``problem`` on the result."""
        return raw


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class UInt(Kind):
    """An unsigned integer of at most ``bits`` bits (bits <= 64: a msgpack int)."""

    bits: int

    def problem(self, value: object) -> str | None:
        if not _is_int(value):
            return f"expected an integer, got {type(value).__name__}"
        assert isinstance(value, int)
        if not 0 <= value < 1 << self.bits:
            return f"{value} is outside [0, 2^{self.bits})"
        return None


@dataclass(frozen=True)
class SInt(Kind):
    """A signed integer of at most ``bits`` bits (two's complement range)."""

    bits: int

    def problem(self, value: object) -> str | None:
        if not _is_int(value):
            return f"expected an integer, got {type(value).__name__}"
        assert isinstance(value, int)
        half = 1 << (self.bits - 1)
        if not -half <= value < half:
            return f"{value} is outside [-2^{self.bits - 1}, 2^{self.bits - 1})"
        return None


@dataclass(frozen=True)
class Word(Kind):
    """An integer below ``bound``, on the wire as 32 big-endian bytes."""

    bound: int
    what: str

    def problem(self, value: object) -> str | None:
        if not _is_int(value):
            return f"expected an integer, got {type(value).__name__}"
        assert isinstance(value, int)
        if not 0 <= value < self.bound:
            return f"{value} is not a valid {self.what}"
        return None

    def to_wire(self, value: Any) -> Any:
        return int(value).to_bytes(U256_BYTES, "big")

    def from_wire(self, raw: object) -> Any:
        if type(raw) is not bytes or len(raw) != U256_BYTES:
            return raw  # ``problem`` names the wrong type
        return int.from_bytes(raw, "big")


@dataclass(frozen=True)
class FixedBytes(Kind):
    """Exactly ``size`` bytes."""

    size: int
    what: str

    def problem(self, value: object) -> str | None:
        if type(value) is not bytes:
            return f"{self.what}: expected bytes, got {type(value).__name__}"
        if len(value) != self.size:
            return f"{self.what} must be {self.size} bytes, not {len(value)}"
        return None


@dataclass(frozen=True)
class Blob(Kind):
    """At most ``max_len`` bytes; lengths in ``allowed`` only, when given."""

    max_len: int
    allowed: tuple[int, ...] = ()

    def problem(self, value: object) -> str | None:
        if type(value) is not bytes:
            return f"expected bytes, got {type(value).__name__}"
        if len(value) > self.max_len:
            return f"{len(value)} bytes exceed the limit of {self.max_len}"
        if self.allowed and len(value) not in self.allowed:
            return f"length {len(value)} is not one of {self.allowed}"
        return None


@dataclass(frozen=True)
class Text(Kind):
    """Printable text of at most ``max_bytes`` UTF-8 bytes (no control characters)."""

    max_bytes: int

    def problem(self, value: object) -> str | None:
        if type(value) is not str:
            return f"expected text, got {type(value).__name__}"
        if len(value.encode("utf-8", "surrogatepass")) > self.max_bytes:
            return f"text longer than {self.max_bytes} bytes"
        if not value.isprintable():
            return "text contains control characters"
        return None


@dataclass(frozen=True)
class Flag(Kind):
    """A boolean."""

    def problem(self, value: object) -> str | None:
        return None if type(value) is bool else f"expected a boolean, got {type(value).__name__}"


class PeerIdKind(Kind):
    """A libp2p peer id: a multihash (identity or sha2-256) with a consistent length."""

    def problem(self, value: object) -> str | None:
        if type(value) is not bytes:
            return f"peer id: expected bytes, got {type(value).__name__}"
        if not 3 <= len(value) <= MAX_PEER_ID_BYTES:
            return f"a peer id of {len(value)} bytes is not a multihash we accept"
        code, length = value[0], value[1]
        if code not in (MULTIHASH_IDENTITY, MULTIHASH_SHA2_256):
            return f"peer id multihash code {code:#x} is neither identity nor sha2-256"
        if length != len(value) - 2 or (code == MULTIHASH_SHA2_256 and length != HASH_BYTES):
            return "peer id multihash length does not match its digest"
        return None


@dataclass(frozen=True)
class ListOf(Kind):
    """A tuple of at most ``max_items`` values of one kind."""

    item: Kind
    max_items: int

    def problem(self, value: object) -> str | None:
        if type(value) is not tuple:
            return f"expected a tuple, got {type(value).__name__}"
        if len(value) > self.max_items:
            return f"{len(value)} items exceed the limit of {self.max_items}"
        for index, item in enumerate(value):
            why = self.item.problem(item)
            if why is not None:
                return f"item {index}: {why}"
        return None

    def to_wire(self, value: Any) -> Any:
        return [self.item.to_wire(item) for item in value]

    def from_wire(self, raw: object) -> Any:
        if type(raw) is not list or len(raw) > self.max_items:
            return raw
        return tuple(self.item.from_wire(item) for item in raw)


@dataclass(frozen=True)
class Nested(Kind):
    """A nested record (a frozen dataclass of wire fields), on the wire as an array."""

    cls: type[Any]
    to_array: Callable[[Any], list[Any]]
    from_array: Callable[[type[Any], object], Any]

    def problem(self, value: object) -> str | None:
        return None if type(value) is self.cls else f"expected {self.cls.__name__}"

    def to_wire(self, value: Any) -> Any:
        return self.to_array(value)

    def from_wire(self, raw: object) -> Any:
        return self.from_array(self.cls, raw)


UINT8, UINT16, UINT32, UINT64 = UInt(8), UInt(16), UInt(32), UInt(64)
U256 = Word(1 << 256, "uint256")
AMOUNT = Word(1 << 256, "amount in wei")
FIELD_ELEMENT = Word(R, "BN254 scalar field element (must be < r)")
ADDRESS = FixedBytes(ADDRESS_BYTES, "address")
HASH32 = FixedBytes(HASH_BYTES, "hash")
SIGNATURE = FixedBytes(SIGNATURE_BYTES, "signature")
PEER_ID = PeerIdKind()
FLAG = Flag()
