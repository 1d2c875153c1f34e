"""Groth16 keys and proofs, and a compact binary format for the proving key.

The proving key file is ``magic "pnpk" | u32 version | u32 n_public | u32 n_wires |
u32 domain_size`` followed by points in EVM encoding (G1: 64 bytes, G2: 128 bytes,
EIP-197 order, infinity as zeros): alpha_g1, beta_g1, delta_g1, beta_g2,
gamma_g2, delta_g2, gamma_abc_g1 (n_public + 1), a_query (n_wires), b_g1_query
(n_wires), b_g2_query (n_wires), h_query (domain_size), l_query
(n_wires - n_public - 1). The reader checks counts, length and that every point
lies on its curve; G2 subgroup membership of the many query points is not
checked (a wrong key only yields proofs that fail to verify).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from protocol.bn254.curve import G2, g2_is_on_curve
from protocol.bn254.encoding import G1_BYTES, G2_BYTES, WORD, g1_from_bytes, g1_to_bytes
from protocol.bn254.fields import P
from protocol.bn254.types import Fq2, G1Affine, G2Affine
from protocol.errors import LocalProtocolError, RemoteProtocolError

PROVING_KEY_MAGIC = b"pnpk"
PROVING_KEY_FORMAT_VERSION = 2  # 2: h_query holds the odd Lagrange points (snarkjs's)
_HEADER = struct.Struct("<4sIIII")
MAX_DOMAIN_SIZE = 1 << 27  # H uses the doubled domain; Fr has 2^28-th roots of unity


@dataclass(frozen=True)
class VerifyingKey:
    """The verifier's points; ``gamma_abc_g1[i]`` weighs public signal i (0 is the one-wire)."""

    alpha_g1: G1Affine
    beta_g2: G2Affine
    gamma_g2: G2Affine
    delta_g2: G2Affine
    gamma_abc_g1: tuple[G1Affine, ...]

    @property
    def n_public(self) -> int:
        return len(self.gamma_abc_g1) - 1

    def degeneracy(self) -> str | None:
        """Why this key would let anyone forge proofs from it alone, or None: a point at
        infinity, gamma equal to delta, or delta the G2 generator (no phase-2
        contribution). ModelRegistry refuses the same keys. gamma the generator, as in
        every snarkjs key, is sound (Bowe-Gabizon-Miers 2017)."""
        named = [("alpha_1", self.alpha_g1), ("beta_2", self.beta_g2)]
        named += [("gamma_2", self.gamma_g2), ("delta_2", self.delta_g2)]
        named += [(f"IC[{i}]", p) for i, p in enumerate(self.gamma_abc_g1)]
        for name, point in named:
            if point is None:
                return f"{name} is the point at infinity"
        if self.gamma_g2 == self.delta_g2:
            return "gamma equals delta"
        if self.delta_g2 == G2:
            return "delta is the generator: no phase-2 contribution"
        return None


@dataclass(frozen=True)
class ProvingKey:
    """The prover's points for one circuit; queries are indexed by wire (l_query by
    private wire, starting after the public ones) and h_query by odd point of the
    doubled domain (``L_(2j+1)(tau) / delta``, as in a snarkjs zkey)."""

    vk: VerifyingKey
    beta_g1: G1Affine
    delta_g1: G1Affine
    a_query: tuple[G1Affine, ...]
    b_g1_query: tuple[G1Affine, ...]
    b_g2_query: tuple[G2Affine, ...]
    h_query: tuple[G1Affine, ...]
    l_query: tuple[G1Affine, ...]
    domain_size: int
    n_public: int

    @property
    def n_wires(self) -> int:
        return len(self.a_query)


@dataclass(frozen=True)
class Proof:
    """A Groth16 proof (A, B, C)."""

    a: G1Affine
    b: G2Affine
    c: G1Affine


def _g2_to_bytes(p: G2Affine) -> bytes:
    # Key points come from our own setup; skip the subgroup check that
    # encoding.g2_to_bytes performs (thousands of G2 scalar multiplications).
    if p is None:
        return bytes(G2_BYTES)
    (x0, x1), (y0, y1) = p
    return b"".join(v.to_bytes(WORD, "big") for v in (x1, x0, y1, y0))


def _g2_from_bytes(data: bytes, what: str) -> G2Affine:
    x1, x0, y1, y0 = (int.from_bytes(data[i : i + WORD], "big") for i in range(0, G2_BYTES, WORD))
    if max(x0, x1, y0, y1) >= P:
        raise RemoteProtocolError(f"proving key: {what} coordinate is not below the field modulus")
    if x0 == x1 == y0 == y1 == 0:
        return None
    x: Fq2 = (x0, x1)
    y: Fq2 = (y0, y1)
    if not g2_is_on_curve((x, y)):
        raise RemoteProtocolError(f"proving key: {what} is not on the G2 twist")
    return (x, y)


def _check_shape(pk: ProvingKey) -> None:
    n_wires, n_public = pk.n_wires, pk.n_public
    expected = {
        "gamma_abc_g1": (len(pk.vk.gamma_abc_g1), n_public + 1),
        "b_g1_query": (len(pk.b_g1_query), n_wires),
        "b_g2_query": (len(pk.b_g2_query), n_wires),
        "h_query": (len(pk.h_query), pk.domain_size),
        "l_query": (len(pk.l_query), n_wires - n_public - 1),
    }
    for name, (got, want) in expected.items():
        if got != want:
            raise LocalProtocolError(f"proving key has {got} {name} points, expected {want}")


def proving_key_to_bytes(pk: ProvingKey) -> bytes:
    """Serialise a proving key in provernet's binary format (see module docstring)."""
    _check_shape(pk)
    vk = pk.vk
    g1s = [vk.alpha_g1, pk.beta_g1, pk.delta_g1]
    g2s = [vk.beta_g2, vk.gamma_g2, vk.delta_g2]
    parts = [
        _HEADER.pack(
            PROVING_KEY_MAGIC,
            PROVING_KEY_FORMAT_VERSION,
            pk.n_public,
            pk.n_wires,
            pk.domain_size,
        ),
        *(g1_to_bytes(p) for p in g1s),
        *(_g2_to_bytes(p) for p in g2s),
        *(g1_to_bytes(p) for p in vk.gamma_abc_g1),
        *(g1_to_bytes(p) for p in pk.a_query),
        *(g1_to_bytes(p) for p in pk.b_g1_query),
        *(_g2_to_bytes(p) for p in pk.b_g2_query),
        *(g1_to_bytes(p) for p in pk.h_query),
        *(g1_to_bytes(p) for p in pk.l_query),
    ]
    return b"".join(parts)


class _PointReader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.pos = offset

    def g1(self, count: int, what: str) -> tuple[G1Affine, ...]:
        out = []
        for i in range(count):
            chunk = self.data[self.pos : self.pos + G1_BYTES]
            self.pos += G1_BYTES
            try:
                out.append(g1_from_bytes(chunk))
            except RemoteProtocolError as exc:
                raise RemoteProtocolError(f"proving key: {what}[{i}]: {exc}") from None
        return tuple(out)

    def g2(self, count: int, what: str) -> tuple[G2Affine, ...]:
        out = []
        for i in range(count):
            out.append(_g2_from_bytes(self.data[self.pos : self.pos + G2_BYTES], f"{what}[{i}]"))
            self.pos += G2_BYTES
        return tuple(out)


def _read_header(data: bytes) -> tuple[int, int, int]:
    if len(data) < _HEADER.size:
        raise RemoteProtocolError("proving key truncated: no complete header")
    magic, version, n_public, n_wires, domain_size = _HEADER.unpack_from(data)
    if magic != PROVING_KEY_MAGIC:
        raise RemoteProtocolError("not a provernet proving key: bad magic")
    if version != PROVING_KEY_FORMAT_VERSION:
        raise RemoteProtocolError(
            f"proving key format version {version} is not supported (this node reads "
            f"version {PROVING_KEY_FORMAT_VERSION}); set the circuit up again"
        )
    if n_wires < n_public + 1:
        raise RemoteProtocolError(f"proving key: {n_wires} wires for {n_public} public signals")
    if not 2 <= domain_size <= MAX_DOMAIN_SIZE or domain_size & (domain_size - 1):
        raise RemoteProtocolError(f"proving key: domain size {domain_size} is not a power of two")
    return n_public, n_wires, domain_size


def _expected_size(n_public: int, n_wires: int, domain_size: int) -> int:
    n_g1 = 3 + (n_public + 1) + 2 * n_wires + domain_size + (n_wires - n_public - 1)
    n_g2 = 3 + n_wires
    return _HEADER.size + n_g1 * G1_BYTES + n_g2 * G2_BYTES


def proving_key_from_bytes(data: bytes) -> ProvingKey:
    """Parse a proving key written by ``proving_key_to_bytes``; malformed data raises."""
    n_public, n_wires, domain_size = _read_header(data)
    expected = _expected_size(n_public, n_wires, domain_size)
    if len(data) != expected:
        raise RemoteProtocolError(
            f"proving key is {len(data)} bytes, its header implies {expected}"
        )
    rd = _PointReader(bytes(data), _HEADER.size)
    alpha_g1, beta_g1, delta_g1 = rd.g1(3, "alpha/beta/delta_g1")
    beta_g2, gamma_g2, delta_g2 = rd.g2(3, "beta/gamma/delta_g2")
    vk = VerifyingKey(alpha_g1, beta_g2, gamma_g2, delta_g2, rd.g1(n_public + 1, "gamma_abc_g1"))
    return ProvingKey(
        vk=vk,
        beta_g1=beta_g1,
        delta_g1=delta_g1,
        a_query=rd.g1(n_wires, "a_query"),
        b_g1_query=rd.g1(n_wires, "b_g1_query"),
        b_g2_query=rd.g2(n_wires, "b_g2_query"),
        h_query=rd.g1(domain_size, "h_query"),
        l_query=rd.g1(n_wires - n_public - 1, "l_query"),
        domain_size=domain_size,
        n_public=n_public,
    )
