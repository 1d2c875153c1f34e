"""Groth16 keys in snarkjs's ``.zkey`` format, the state a phase-2 ceremony passes on.

The binary container (``protocol.r1cs.binfmt``) has magic ``"zkey"``, version 1, and
sections (points LEM-encoded, see ``protocol.bn254.encoding``):

- 1 ``u32 protocol`` (1 = Groth16);
- 2 the Groth16 header: ``u32 n8q, q, u32 n8r, r, u32 n_vars, u32 n_public,
  u32 domain_size``, then alpha_1, beta_1, beta_2, gamma_2, delta_1, delta_2;
- 3 IC (``n_public + 1`` G1), 4 the A and B matrix coefficients the prover uses
  (``u32 count``, then ``u32 matrix, u32 row, u32 wire`` and the coefficient times
  ``2^512`` mod r, 32 bytes little-endian), 5 A, 6 B1 (G1, ``n_vars`` each), 7 B2
  (G2, ``n_vars``), 8 C (the L query: G1, ``n_vars - n_public - 1``), 9 H (G1,
  ``domain_size``: the odd Lagrange points of the doubled domain over delta);
- 10 the ceremony: the circuit hash (64 bytes), ``u32 count``, and per contribution
  delta_1 after it, its public key (g1_s, g1_sx, g2_spx), its transcript hash (64
  bytes), ``u32 type`` (0 a contributor, 1 a beacon) and snarkjs's parameter list
  (name; a beacon's iteration exponent and hash).

``ZKey`` keeps the points decoded; ``coefficients`` stays as its bytes, since a
verifier compares that section with the recomputed one byte for byte. Readers check
every size and every point's curve (and G2 subgroup for the key's fixed points), and
raise ZKeyFormatError naming the section.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocol.bn254.encoding import (
    G1_BYTES,
    G2_BYTES,
    g1_batch_from_lem,
    g1_to_lem,
    g2_batch_from_lem,
    g2_to_lem,
)
from protocol.bn254.fields import P, R
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.groth16.keys import MAX_DOMAIN_SIZE, ProvingKey, VerifyingKey
from protocol.r1cs.binfmt import section_table

ZKEY_MAGIC = b"zkey"
ZKEY_VERSION = 1
GROTH16 = 1
HEADER, GROTH_HEADER, IC, COEFFICIENTS, A, B1, B2, C, H, CEREMONY = range(1, 11)
SECTION_NAMES = {
    HEADER: "protocol",
    GROTH_HEADER: "Groth16 header",
    IC: "IC",
    COEFFICIENTS: "coefficients",
    A: "A",
    B1: "B1",
    B2: "B2",
    C: "C (L query)",
    H: "H",
    CEREMONY: "ceremony",
}
HASH_BYTES = 64
MAX_NAME_BYTES = 64  # snarkjs truncates contribution names to 64 characters
CONTRIBUTOR, BEACON = 0, 1
_U32 = struct.Struct("<I")
_SECTION = struct.Struct("<IQ")
_COEFF_BYTES = 12 + 32


class ZKeyFormatError(RemoteProtocolError):
    """A ``.zkey`` file is malformed: truncated, wrong sizes, points off their curve."""


@dataclass(frozen=True)
class Phase2Contribution:
    """One phase-2 contribution as the key records it."""

    delta_after: G1Affine
    g1_s: G1Affine
    g1_sx: G1Affine
    g2_spx: G2Affine
    transcript: bytes
    kind: int = CONTRIBUTOR
    name: str = ""
    beacon_hash: bytes = b""
    iterations_exp: int = 0


@dataclass(frozen=True)
class ZKey:
    """A Groth16 key with its ceremony record, in snarkjs's semantics (gamma starts as
    the G2 generator and stays; each contribution rescales delta, C and H)."""

    n_vars: int
    n_public: int
    domain_size: int
    alpha_g1: G1Affine
    beta_g1: G1Affine
    beta_g2: G2Affine
    gamma_g2: G2Affine
    delta_g1: G1Affine
    delta_g2: G2Affine
    ic: tuple[G1Affine, ...]
    coefficients: bytes
    a: tuple[G1Affine, ...]
    b1: tuple[G1Affine, ...]
    b2: tuple[G2Affine, ...]
    c: tuple[G1Affine, ...]
    h: tuple[G1Affine, ...]
    cs_hash: bytes
    contributions: tuple[Phase2Contribution, ...] = ()

    def verifying_key(self) -> VerifyingKey:
        """The verifier's points."""
        return VerifyingKey(self.alpha_g1, self.beta_g2, self.gamma_g2, self.delta_g2, self.ic)

    def proving_key(self) -> ProvingKey:
        """The key in provernet's prover layout (the same points, nothing recomputed)."""
        return ProvingKey(
            vk=self.verifying_key(),
            beta_g1=self.beta_g1,
            delta_g1=self.delta_g1,
            a_query=self.a,
            b_g1_query=self.b1,
            b_g2_query=self.b2,
            h_query=self.h,
            l_query=self.c,
            domain_size=self.domain_size,
            n_public=self.n_public,
        )


# --- writing ---------------------------------------------------------------


def _params(c: Phase2Contribution) -> bytes:
    out = bytearray()
    name = c.name.encode("utf-8")
    if len(name) > MAX_NAME_BYTES:
        raise LocalProtocolError(f"contribution name is over {MAX_NAME_BYTES} bytes")
    if name:
        out += bytes([1, len(name)]) + name
    if c.kind == BEACON:
        if not 0 < len(c.beacon_hash) < 256:
            raise LocalProtocolError("a beacon hash must be 1 to 255 bytes")
        out += bytes([2, c.iterations_exp, 3, len(c.beacon_hash)]) + c.beacon_hash
    return bytes(out)


def contribution_to_bytes(c: Phase2Contribution) -> bytes:
    """One contribution record as section 10 stores it."""
    if len(c.transcript) != HASH_BYTES:
        raise LocalProtocolError("a contribution transcript is a 64-byte hash")
    params = _params(c)
    return b"".join(
        [
            g1_to_lem(c.delta_after),
            g1_to_lem(c.g1_s),
            g1_to_lem(c.g1_sx),
            g2_to_lem(c.g2_spx),
            c.transcript,
            _U32.pack(c.kind),
            _U32.pack(len(params)),
            params,
        ]
    )


def zkey_to_bytes(key: ZKey) -> bytes:
    """The ``.zkey`` file for ``key``."""
    _check_counts(key, LocalProtocolError)
    groth = b"".join(
        [
            _U32.pack(32),
            P.to_bytes(32, "little"),
            _U32.pack(32),
            R.to_bytes(32, "little"),
            struct.pack("<III", key.n_vars, key.n_public, key.domain_size),
            g1_to_lem(key.alpha_g1),
            g1_to_lem(key.beta_g1),
            g2_to_lem(key.beta_g2),
            g2_to_lem(key.gamma_g2),
            g1_to_lem(key.delta_g1),
            g2_to_lem(key.delta_g2),
        ]
    )
    ceremony = key.cs_hash + _U32.pack(len(key.contributions))
    ceremony += b"".join(contribution_to_bytes(c) for c in key.contributions)
    sections = [
        (HEADER, _U32.pack(GROTH16)),
        (GROTH_HEADER, groth),
        (IC, b"".join(map(g1_to_lem, key.ic))),
        (COEFFICIENTS, key.coefficients),
        (A, b"".join(map(g1_to_lem, key.a))),
        (B1, b"".join(map(g1_to_lem, key.b1))),
        (B2, b"".join(map(g2_to_lem, key.b2))),
        (C, b"".join(map(g1_to_lem, key.c))),
        (H, b"".join(map(g1_to_lem, key.h))),
        (CEREMONY, ceremony),
    ]
    body = b"".join(_SECTION.pack(kind, len(data)) + data for kind, data in sections)
    return ZKEY_MAGIC + struct.pack("<II", ZKEY_VERSION, len(sections)) + body


def _check_counts(key: ZKey, error: type[Exception]) -> None:
    expected = {
        "IC": (len(key.ic), key.n_public + 1),
        "A": (len(key.a), key.n_vars),
        "B1": (len(key.b1), key.n_vars),
        "B2": (len(key.b2), key.n_vars),
        "C (L query)": (len(key.c), key.n_vars - key.n_public - 1),
        "H": (len(key.h), key.domain_size),
    }
    for name, (got, want) in expected.items():
        if got != want:
            raise error(f"zkey {name} has {got} points, expected {want}")
    if len(key.cs_hash) != HASH_BYTES:
        raise error("zkey circuit hash must be 64 bytes")


# --- reading ---------------------------------------------------------------


def _sections(data: bytes) -> dict[int, bytes]:
    table = section_table(data, ZKEY_MAGIC, ZKEY_VERSION, set(SECTION_NAMES), ZKeyFormatError)
    missing = sorted(SECTION_NAMES.keys() - table.keys())
    if missing:
        names = ", ".join(f"{k} ({SECTION_NAMES[k]})" for k in missing)
        raise ZKeyFormatError(f".zkey lacks section(s) {names}; is it a Groth16 key?")
    return {kind: bytes(data[off : off + size]) for kind, (off, size) in table.items()}


def _g1s(raw: bytes, kind: int, count: int, offset: int = 0) -> tuple[G1Affine, ...]:
    what = f".zkey section {kind} ({SECTION_NAMES[kind]}) point"
    try:
        return tuple(g1_batch_from_lem(raw, offset, count, what))
    except RemoteProtocolError as exc:
        raise ZKeyFormatError(str(exc)) from None


def _g2s(
    raw: bytes, kind: int, count: int, offset: int = 0, *, subgroup: bool = False
) -> tuple[G2Affine, ...]:
    what = f".zkey section {kind} ({SECTION_NAMES[kind]}) point"
    try:
        return tuple(g2_batch_from_lem(raw, offset, count, what, subgroup=subgroup))
    except RemoteProtocolError as exc:
        raise ZKeyFormatError(str(exc)) from None


def _sized(sections: dict[int, bytes], kind: int, count: int, size: int) -> bytes:
    raw = sections[kind]
    if len(raw) != count * size:
        raise ZKeyFormatError(
            f".zkey section {kind} ({SECTION_NAMES[kind]}) is {len(raw)} bytes, "
            f"expected {count * size}"
        )
    return raw


def zkey_from_bytes(data: bytes) -> ZKey:
    """Parse a ``.zkey`` file (snarkjs's or ours); malformed data raises ZKeyFormatError."""
    sections = _sections(data)
    if sections[HEADER] != _U32.pack(GROTH16):
        raise ZKeyFormatError(".zkey is not a Groth16 key (protocol section is not 1)")
    groth = sections[GROTH_HEADER]
    fixed = 4 + 32 + 4 + 32 + 12 + 3 * G1_BYTES + 3 * G2_BYTES
    if len(groth) != fixed:
        raise ZKeyFormatError(f".zkey Groth16 header is {len(groth)} bytes, expected {fixed}")
    n8q, q = _U32.unpack_from(groth, 0)[0], int.from_bytes(groth[4:36], "little")
    n8r, r = _U32.unpack_from(groth, 36)[0], int.from_bytes(groth[40:72], "little")
    if (n8q, q, n8r, r) != (32, P, 32, R):
        raise ZKeyFormatError(".zkey is not for BN254 (bn128)")
    n_vars, n_public, domain_size = struct.unpack_from("<III", groth, 72)
    if not n_public + 1 <= n_vars:
        raise ZKeyFormatError(f".zkey has {n_vars} wires for {n_public} public signals")
    if not 2 <= domain_size <= MAX_DOMAIN_SIZE or domain_size & (domain_size - 1):
        raise ZKeyFormatError(f".zkey domain size {domain_size} is not a supported power of two")
    pos = 84
    alpha_g1, beta_g1 = _g1s(groth, GROTH_HEADER, 2, pos)
    beta_g2, gamma_g2 = _g2s(groth, GROTH_HEADER, 2, pos + 2 * G1_BYTES, subgroup=True)
    (delta_g1,) = _g1s(groth, GROTH_HEADER, 1, pos + 2 * G1_BYTES + 2 * G2_BYTES)
    (delta_g2,) = _g2s(groth, GROTH_HEADER, 1, pos + 3 * G1_BYTES + 2 * G2_BYTES, subgroup=True)
    coefficients = sections[COEFFICIENTS]
    if len(coefficients) < 4:
        raise ZKeyFormatError(".zkey coefficients section is truncated")
    (n_coeffs,) = _U32.unpack_from(coefficients, 0)
    if len(coefficients) != 4 + n_coeffs * _COEFF_BYTES:
        raise ZKeyFormatError(
            f".zkey coefficients section is {len(coefficients)} bytes for {n_coeffs} entries"
        )
    n_private = n_vars - n_public - 1
    key = ZKey(
        n_vars=n_vars,
        n_public=n_public,
        domain_size=domain_size,
        alpha_g1=alpha_g1,
        beta_g1=beta_g1,
        beta_g2=beta_g2,
        gamma_g2=gamma_g2,
        delta_g1=delta_g1,
        delta_g2=delta_g2,
        ic=_g1s(_sized(sections, IC, n_public + 1, G1_BYTES), IC, n_public + 1),
        coefficients=coefficients,
        a=_g1s(_sized(sections, A, n_vars, G1_BYTES), A, n_vars),
        b1=_g1s(_sized(sections, B1, n_vars, G1_BYTES), B1, n_vars),
        b2=_g2s(_sized(sections, B2, n_vars, G2_BYTES), B2, n_vars),
        c=_g1s(_sized(sections, C, n_private, G1_BYTES), C, n_private),
        h=_g1s(_sized(sections, H, domain_size, G1_BYTES), H, domain_size),
        cs_hash=b"",
        contributions=(),
    )
    cs_hash, contributions = _ceremony(sections[CEREMONY])
    return ZKey(**{**key.__dict__, "cs_hash": cs_hash, "contributions": contributions})


def _ceremony(raw: bytes) -> tuple[bytes, tuple[Phase2Contribution, ...]]:
    if len(raw) < HASH_BYTES + 4:
        raise ZKeyFormatError(".zkey ceremony section is truncated")
    cs_hash = raw[:HASH_BYTES]
    (count,) = _U32.unpack_from(raw, HASH_BYTES)
    pos = HASH_BYTES + 4
    fixed = 3 * G1_BYTES + G2_BYTES + HASH_BYTES + 8
    out = []
    for index in range(1, count + 1):
        if pos + fixed > len(raw):
            raise ZKeyFormatError(f".zkey contribution {index} is truncated")
        delta_after, g1_s, g1_sx = _g1s(raw, CEREMONY, 3, pos)
        (g2_spx,) = _g2s(raw, CEREMONY, 1, pos + 3 * G1_BYTES, subgroup=True)
        pos += 3 * G1_BYTES + G2_BYTES
        transcript = raw[pos : pos + HASH_BYTES]
        kind, n_params = struct.unpack_from("<II", raw, pos + HASH_BYTES)
        pos += HASH_BYTES + 8
        if kind not in (CONTRIBUTOR, BEACON):
            raise ZKeyFormatError(f".zkey contribution {index} has unknown type {kind}")
        if pos + n_params > len(raw):
            raise ZKeyFormatError(f".zkey contribution {index}: parameters are truncated")
        params = parse_params(raw[pos : pos + n_params], f".zkey contribution {index}")
        pos += n_params
        out.append(
            Phase2Contribution(
                delta_after=delta_after,
                g1_s=g1_s,
                g1_sx=g1_sx,
                g2_spx=g2_spx,
                transcript=transcript,
                kind=kind,
                name=params.get(1, b"").decode("utf-8", "replace"),
                beacon_hash=params.get(3, b""),
                iterations_exp=int.from_bytes(params.get(2, b""), "little"),
            )
        )
    if pos != len(raw):
        raise ZKeyFormatError(".zkey ceremony section has trailing bytes")
    return cs_hash, tuple(out)


def parse_params(
    raw: bytes, what: str, error: type[Exception] = ZKeyFormatError
) -> dict[int, bytes]:
    """snarkjs's sorted contribution parameters: ``u8 type`` then, for 1 (name) and 3
    (beacon hash), ``u8 length`` and bytes; for 2 (beacon iteration exponent) one byte."""
    params: dict[int, bytes] = {}
    pos, last = 0, 0
    while pos < len(raw):
        kind = raw[pos]
        if kind <= last or kind not in (1, 2, 3):
            raise error(f"{what}: bad or unsorted parameter type {kind}")
        last = kind
        if kind == 2:
            value, pos = raw[pos + 1 : pos + 2], pos + 2
        else:
            length = raw[pos + 1] if pos + 1 < len(raw) else 0
            value, pos = raw[pos + 2 : pos + 2 + length], pos + 2 + length
        if pos > len(raw):
            raise error(f"{what}: parameter {kind} is truncated")
        params[kind] = value
    return params
