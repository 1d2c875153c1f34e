"""circom's binary ``.r1cs`` (v1) and ``.wtns`` (v2) formats.

Both files are ``magic (4 bytes) | u32 version | u32 n_sections`` followed by
sections ``u32 type | u64 size | payload``, little-endian, field elements as 32
bytes in normal form (iden3 r1csfile and snarkjs wtns_utils are the references).

- ``.r1cs`` sections: 1 header (``u32 n8, prime, u32 nWires, u32 nPubOut,
  u32 nPubIn, u32 nPrvIn, u64 nLabels, u32 nConstraints``), 2 constraints (A, B, C
  each as ``u32 nTerms`` then ``(u32 wire, coefficient)`` sorted by wire),
  3 wire-to-label map (``u64`` per wire).
- ``.wtns`` sections: 1 header (``u32 n8, prime, u32 nWitness``), 2 values.

Readers accept only BN254's scalar field and raise RemoteProtocolError naming the
first problem found; writers raise LocalProtocolError for values that cannot be
represented.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.r1cs.system import R1CS, Constraint, R

R1CS_MAGIC = b"r1cs"
R1CS_VERSION = 1
WTNS_MAGIC = b"wtns"
WTNS_VERSION = 2
FIELD_BYTES = 32  # n8 for BN254 Fr

# Section types (iden3 r1csfile; snarkjs wtns_utils).
R1CS_HEADER = 1
R1CS_CONSTRAINTS = 2
R1CS_WIRE2LABEL = 3
R1CS_CUSTOM_GATES = (4, 5)  # PLONK custom gates: list and uses
WTNS_HEADER = 1
WTNS_VALUES = 2

_R_BYTES = R.to_bytes(FIELD_BYTES, "little")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_TERM = struct.Struct("<I32s")


class BinaryFormatError(RemoteProtocolError):
    """A ``.r1cs`` or ``.wtns`` file is malformed or uses an unsupported field."""


class _Reader:
    """Cursor over a bytes object; every read checks for truncation."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise BinaryFormatError(
                f"{self.what} truncated: need {n} bytes at offset {self.pos}, "
                f"{len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = _U64.unpack(self.take(8))[0]
        return value

    def field(self, label: str) -> int:
        value = int.from_bytes(self.take(FIELD_BYTES), "little")
        if value >= R:
            raise BinaryFormatError(f"{self.what}: {label} {value} is not below the prime")
        return value

    def done(self) -> None:
        if self.pos != len(self.data):
            raise BinaryFormatError(
                f"{self.what}: {len(self.data) - self.pos} unexpected trailing bytes"
            )


def _write_container(magic: bytes, version: int, sections: Sequence[tuple[int, bytes]]) -> bytes:
    parts = [magic, _U32.pack(version), _U32.pack(len(sections))]
    for kind, payload in sections:
        parts += [_U32.pack(kind), _U64.pack(len(payload)), payload]
    return b"".join(parts)


def section_table(
    data: bytes, magic: bytes, version: int, known: set[int], error: type[Exception]
) -> dict[int, tuple[int, int]]:
    """The ``(offset, size)`` of each known section of a snarkjs binary file (``.ptau``,
    ``.zkey``); unknown section types are skipped, a known one twice, a bad magic or
    version, truncation and trailing bytes raise ``error``."""
    name = magic.decode()
    if len(data) < 12 or bytes(data[:4]) != magic:
        raise error(f"not a .{name} file: bad magic")
    found_version, count = struct.unpack_from("<II", data, 4)
    if found_version != version:
        raise error(f".{name} version {found_version} is not supported (need {version})")
    sections: dict[int, tuple[int, int]] = {}
    pos = 12
    for _ in range(count):
        if pos + 12 > len(data):
            raise error(f".{name} truncated inside the section table")
        kind, size = struct.unpack_from("<IQ", data, pos)
        pos += 12
        if pos + size > len(data):
            raise error(f".{name} section {kind} runs past the end of the file")
        if kind in known:
            if kind in sections:
                raise error(f".{name} section {kind} appears twice")
            sections[kind] = (pos, size)
        pos += size
    if pos != len(data):
        raise error(f".{name} has {len(data) - pos} trailing bytes")
    return sections


def _read_container(
    data: bytes, magic: bytes, version: int, allowed: set[int]
) -> dict[int, _Reader]:
    name = magic.decode()
    top = _Reader(bytes(data), f".{name} file")
    if top.take(4) != magic:
        raise BinaryFormatError(f"not a .{name} file: bad magic")
    found_version = top.u32()
    if found_version != version:
        raise BinaryFormatError(f".{name} version {found_version} unsupported (need {version})")
    sections: dict[int, _Reader] = {}
    for _ in range(top.u32()):
        kind = top.u32()
        size = top.u64()
        payload = top.take(size)
        if kind not in allowed:
            raise BinaryFormatError(f".{name} section type {kind} is not supported")
        if kind in sections:
            raise BinaryFormatError(f".{name} section type {kind} appears twice")
        sections[kind] = _Reader(payload, f".{name} section {kind}")
    top.done()
    missing = allowed - sections.keys()
    if missing:
        raise BinaryFormatError(f".{name} file lacks section(s) {sorted(missing)}")
    return sections


def _read_prime(reader: _Reader) -> None:
    n8 = reader.u32()
    if n8 != FIELD_BYTES:
        raise BinaryFormatError(f"{reader.what}: field size {n8} bytes, need {FIELD_BYTES}")
    if reader.take(FIELD_BYTES) != _R_BYTES:
        raise BinaryFormatError(f"{reader.what}: prime is not the BN254 scalar field order")


# --- .r1cs ------------------------------------------------------------------


def _lc_bytes(terms: Mapping[int, int], n_wires: int) -> bytes:
    parts = [_U32.pack(len(terms))]
    for wire in sorted(terms):
        coeff = terms[wire]
        if not 0 <= wire < n_wires or not 0 <= coeff < R:
            raise LocalProtocolError(f"term {coeff}*w{wire} cannot be written")
        parts.append(_TERM.pack(wire, coeff.to_bytes(FIELD_BYTES, "little")))
    return b"".join(parts)


def _labels_of(r1cs: R1CS) -> Sequence[int]:
    if not r1cs.labels:
        return range(r1cs.n_wires)
    if len(r1cs.labels) != r1cs.n_wires:
        raise LocalProtocolError(f"{len(r1cs.labels)} labels for {r1cs.n_wires} wires")
    return r1cs.labels


def r1cs_to_bytes(r1cs: R1CS) -> bytes:
    """Serialise ``r1cs`` as a circom ``.r1cs`` v1 file."""
    if r1cs.prime != R:
        raise LocalProtocolError("only BN254's scalar field can be written")
    labels = _labels_of(r1cs)
    n_labels = max(labels, default=-1) + 1
    header = b"".join(
        [
            _U32.pack(FIELD_BYTES),
            _R_BYTES,
            _U32.pack(r1cs.n_wires),
            _U32.pack(r1cs.n_public),
            _U32.pack(r1cs.n_pub_in),
            _U32.pack(r1cs.n_prv_in),
            _U64.pack(n_labels),
            _U32.pack(r1cs.n_constraints),
        ]
    )
    constraints = b"".join(
        _lc_bytes(side, r1cs.n_wires) for con in r1cs.constraints for side in (con.a, con.b, con.c)
    )
    wire_map = b"".join(_U64.pack(label) for label in labels)
    sections = [(R1CS_HEADER, header), (R1CS_CONSTRAINTS, constraints), (R1CS_WIRE2LABEL, wire_map)]
    return _write_container(R1CS_MAGIC, R1CS_VERSION, sections)


def _read_r1cs_header(reader: _Reader) -> tuple[int, int, int, int, int, int]:
    _read_prime(reader)
    n_wires, n_pub_out, n_pub_in, n_prv_in = (reader.u32() for _ in range(4))
    n_labels = reader.u64()
    n_constraints = reader.u32()
    reader.done()
    if n_wires < 1 + n_pub_out + n_pub_in + n_prv_in:
        raise BinaryFormatError(
            f".r1cs header: {n_wires} wires cannot hold the one-wire and "
            f"{n_pub_out}+{n_pub_in}+{n_prv_in} input/output signals"
        )
    if n_labels < n_wires:
        raise BinaryFormatError(f".r1cs header: {n_labels} labels for {n_wires} wires")
    return n_wires, n_pub_out, n_pub_in, n_prv_in, n_labels, n_constraints


def _read_lc(reader: _Reader, n_wires: int) -> dict[int, int]:
    terms: dict[int, int] = {}
    last = -1
    for _ in range(reader.u32()):
        wire = reader.u32()
        if wire >= n_wires:
            raise BinaryFormatError(f".r1cs constraint uses wire {wire} of {n_wires}")
        if wire <= last:
            raise BinaryFormatError(f".r1cs constraint terms not sorted by wire at wire {wire}")
        last = wire
        coeff = reader.field(f"coefficient of wire {wire}")
        if coeff:
            terms[wire] = coeff
    return terms


def r1cs_from_bytes(data: bytes) -> R1CS:
    """Parse a circom ``.r1cs`` v1 file over BN254 (no custom gates)."""
    sections = _read_container(
        data, R1CS_MAGIC, R1CS_VERSION, {R1CS_HEADER, R1CS_CONSTRAINTS, R1CS_WIRE2LABEL}
    )
    n_wires, n_pub_out, n_pub_in, n_prv_in, n_labels, n_constraints = _read_r1cs_header(
        sections[R1CS_HEADER]
    )
    body = sections[R1CS_CONSTRAINTS]
    constraints = tuple(
        Constraint(_read_lc(body, n_wires), _read_lc(body, n_wires), _read_lc(body, n_wires))
        for _ in range(n_constraints)
    )
    body.done()
    wire_map = sections[R1CS_WIRE2LABEL]
    labels = tuple(wire_map.u64() for _ in range(n_wires))
    wire_map.done()
    for wire, label in enumerate(labels):
        if label >= n_labels:
            raise BinaryFormatError(f".r1cs wire {wire} has label {label} of {n_labels}")
    return R1CS(
        n_wires=n_wires,
        n_public=n_pub_out,
        constraints=constraints,
        n_pub_in=n_pub_in,
        n_prv_in=n_prv_in,
        labels=() if labels == tuple(range(n_wires)) else labels,
    )


# --- .wtns ------------------------------------------------------------------


def wtns_to_bytes(witness: Sequence[int]) -> bytes:
    """Serialise a full witness (wire order) as a snarkjs ``.wtns`` v2 file."""
    for i, value in enumerate(witness):
        if not 0 <= value < R:
            raise LocalProtocolError(f"witness value {i} is not a field element")
    header = _U32.pack(FIELD_BYTES) + _R_BYTES + _U32.pack(len(witness))
    values = b"".join(v.to_bytes(FIELD_BYTES, "little") for v in witness)
    return _write_container(
        WTNS_MAGIC, WTNS_VERSION, [(WTNS_HEADER, header), (WTNS_VALUES, values)]
    )


def wtns_from_bytes(data: bytes) -> list[int]:
    """Parse a snarkjs ``.wtns`` v2 file over BN254 into the witness values."""
    sections = _read_container(data, WTNS_MAGIC, WTNS_VERSION, {WTNS_HEADER, WTNS_VALUES})
    header = sections[WTNS_HEADER]
    _read_prime(header)
    n_witness = header.u32()
    header.done()
    body = sections[WTNS_VALUES]
    if len(body.data) != n_witness * FIELD_BYTES:
        raise BinaryFormatError(
            f".wtns values section holds {len(body.data)} bytes, "
            f"header says {n_witness} values of {FIELD_BYTES}"
        )
    return [body.field(f"witness value {i}") for i in range(n_witness)]
