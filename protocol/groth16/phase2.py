"""Phase 2 of the Groth16 setup: the circuit's key from a phase 1, contributions, a
beacon, and the verification of the whole transcript, compatible with snarkjs.

The scheme (Bowe-Gabizon-Miers, as snarkjs implements it):

- ``initial_zkey`` derives the key from the circuit and a prepared phase 1 with
  ``gamma = delta = 1``: A, B1, B2 and IC/C are sums of the phase-1 Lagrange points,
  H the odd Lagrange points of the doubled domain. Nobody knows a secret of it beyond
  phase 1's; it is public and anyone recomputes it.
- Each ``contribute`` draws a secret x, multiplies delta by x and divides C and H by x,
  and publishes ``(g1_s, g1_sx = x*g1_s, g2_spx = x*g2_sp)`` where ``g2_sp`` is hashed
  from the transcript (the circuit hash, every earlier contribution, and g1_s, g1_sx):
  a proof that the contributor knows x, bound to its place in the chain.
- ``beacon`` is a contribution whose x is derived from public randomness chosen after
  the contributions (``2^iterations_exp`` SHA-256 rounds of a beacon value), so the
  last contributor cannot choose the final key.
- ``verify_zkey`` recomputes the initial key, checks that everything but delta, C and
  H is unchanged (B2 against B1 by a random linear combination), replays the chain's
  proofs of knowledge, and checks C and H against the final delta with one
  random-linear-combination pairing each. The key is then
  sound if phase 1 and at least one phase-2 contributor kept no secret.

Hash-to-G2, the beacon's derivation and the transcript follow snarkjs byte for byte
(ChaCha20 seeded from the hash, points from "Uncompressed" big-endian coordinates), so
snarkjs verifies our keys and we verify its.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from protocol.bn254.backend import Backend, get_backend
from protocol.bn254.curve import G1, G2, g1_add, g1_mul, g1_neg
from protocol.bn254.fields import P, R, fq2_add, fq2_mul, fq2_sqr, fq2_sqrt, fq_sqrt
from protocol.bn254.g2 import B2, g2_mul, g2_mul_unreduced, g2_to_affine
from protocol.bn254.msm import msm_g1, msm_g2
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.groth16.keys import _g2_to_bytes
from protocol.groth16.ptau import (
    LAGRANGE_ALPHA_G1,
    LAGRANGE_BETA_G1,
    LAGRANGE_TAU_G1,
    PowersOfTau,
)
from protocol.groth16.qap import domain_size
from protocol.groth16.setup import derive_scalar
from protocol.groth16.zkey import BEACON, CONTRIBUTOR, MAX_NAME_BYTES, Phase2Contribution, ZKey
from protocol.r1cs.system import R1CS

Progress = Callable[[str, int, int], None]
MIN_BEACON_ITERATIONS_EXP = 10  # snarkjs's bounds
MAX_BEACON_ITERATIONS_EXP = 63
_MONT_R_R = pow(2, 512, R)  # snarkjs stores coefficients times R^2 (R = 2^256 mod r)
_MONT_INV_Q = pow(2, -256, P)
_MONT_INV_R = pow(2, -256, R)
_G2_COFACTOR = 0x30644E72E131A029B85045B68181585E06CEECDA572A2489345F2299C0F9FA8D
_HALF_Q = (P - 1) // 2
_H_HASH_CHUNK = 1 << 14


class Phase2CheckError(RemoteProtocolError):
    """A phase-2 key or transcript that does not verify; the message names the break."""


# --- the encodings snarkjs hashes -------------------------------------------


def _u(p: G1Affine) -> bytes:
    """snarkjs's "Uncompressed" G1: x and y big-endian (EIP-196's layout), zeros for infinity."""
    if p is None:
        return bytes(64)
    return p[0].to_bytes(32, "big") + p[1].to_bytes(32, "big")


def _u2(p: G2Affine) -> bytes:
    """snarkjs's "Uncompressed" G2: x.c1, x.c0, y.c1, y.c0 big-endian (EIP-197's layout)."""
    return _g2_to_bytes(p)


def _blake(*parts: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=64)
    for part in parts:
        h.update(part)
    return h.digest()


# --- ChaCha20 and points from it (ffjavascript's ChaCha and fromRng) -----------------


class ChaCha:
    """The ChaCha20 block function as a stream of 32-bit words (key = seed, nonce 0)."""

    _CONSTANTS = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)

    def __init__(self, seed: Sequence[int]) -> None:
        if len(seed) != 8:
            raise LocalProtocolError("a ChaCha seed is eight 32-bit words")
        self.state = [*self._CONSTANTS, *(w & 0xFFFFFFFF for w in seed), 0, 0, 0, 0]
        self.buffer: list[int] = []

    @classmethod
    def from_hash(cls, digest: bytes) -> ChaCha:
        """Seeded with the first 32 bytes of ``digest`` as big-endian words."""
        return cls(struct.unpack(">8I", digest[:32]))

    def _block(self) -> None:
        x = list(self.state)

        def quarter(a: int, b: int, c: int, d: int) -> None:
            x[a] = (x[a] + x[b]) & 0xFFFFFFFF
            x[d] ^= x[a]
            x[d] = ((x[d] << 16) | (x[d] >> 16)) & 0xFFFFFFFF
            x[c] = (x[c] + x[d]) & 0xFFFFFFFF
            x[b] ^= x[c]
            x[b] = ((x[b] << 12) | (x[b] >> 20)) & 0xFFFFFFFF
            x[a] = (x[a] + x[b]) & 0xFFFFFFFF
            x[d] ^= x[a]
            x[d] = ((x[d] << 8) | (x[d] >> 24)) & 0xFFFFFFFF
            x[c] = (x[c] + x[d]) & 0xFFFFFFFF
            x[b] ^= x[c]
            x[b] = ((x[b] << 7) | (x[b] >> 25)) & 0xFFFFFFFF

        for _ in range(10):
            quarter(0, 4, 8, 12)
            quarter(1, 5, 9, 13)
            quarter(2, 6, 10, 14)
            quarter(3, 7, 11, 15)
            quarter(0, 5, 10, 15)
            quarter(1, 6, 11, 12)
            quarter(2, 7, 8, 13)
            quarter(3, 4, 9, 14)
        self.buffer = [(v + s) & 0xFFFFFFFF for v, s in zip(x, self.state, strict=True)]
        for i in range(12, 16):  # a 128-bit block counter
            self.state[i] = (self.state[i] + 1) & 0xFFFFFFFF
            if self.state[i]:
                break

    def u32(self) -> int:
        if not self.buffer:
            self._block()
        return self.buffer.pop(0)

    def u64(self) -> int:
        high = self.u32()
        return (high << 32) | self.u32()

    def flag(self) -> bool:
        return self.u32() & 1 == 1

    def field(self, modulus: int, mont_inv: int) -> int:
        """A uniform element: four u64 words, masked to the modulus' bits, rejected until
        below it; the words are the element's Montgomery form, as ffjavascript reads them."""
        mask = (1 << modulus.bit_length()) - 1
        while True:
            v = 0
            for i in range(4):
                v |= self.u64() << (64 * i)
            v &= mask
            if v < modulus:
                return v * mont_inv % modulus

    def scalar(self) -> int:
        return self.field(R, _MONT_INV_R)


def _negative(v: int) -> bool:
    return v > _HALF_Q


def g1_from_rng(rng: ChaCha) -> G1Affine:
    """A G1 point drawn as ffjavascript's ``G1.fromRng`` draws it."""
    while True:
        x = rng.field(P, _MONT_INV_Q)
        greatest = rng.flag()
        y = fq_sqrt((x * x * x + 3) % P)
        if y is not None:
            break
    if greatest != _negative(y):
        y = (P - y) % P
    return (x, y)


def hash_to_g2(digest: bytes) -> G2Affine:
    """snarkjs's ``hashToG2``: a G2 point from ChaCha seeded with ``digest``."""
    rng = ChaCha.from_hash(digest)
    while True:
        x = (rng.field(P, _MONT_INV_Q), rng.field(P, _MONT_INV_Q))
        greatest = rng.flag()
        y = fq2_sqrt(fq2_add(fq2_mul(fq2_sqr(x), x), B2))
        if y is not None:
            break
    sign = _negative(y[1]) if y[1] else _negative(y[0])
    if greatest != sign:
        y = ((P - y[0]) % P, (P - y[1]) % P)
    return g2_to_affine(g2_mul_unreduced((x, y), _G2_COFACTOR))


def beacon_rng(beacon_hash: bytes, iterations_exp: int) -> ChaCha:
    """ChaCha seeded with ``sha256^(2^iterations_exp)(beacon_hash)``."""
    if not MIN_BEACON_ITERATIONS_EXP <= iterations_exp <= MAX_BEACON_ITERATIONS_EXP:
        raise LocalProtocolError(
            f"beacon iterations exponent must be in {MIN_BEACON_ITERATIONS_EXP}.."
            f"{MAX_BEACON_ITERATIONS_EXP}, got {iterations_exp}"
        )
    if not 0 < len(beacon_hash) < 256:
        raise LocalProtocolError("a beacon value must be 1 to 255 bytes")
    digest = beacon_hash
    for _ in range(1 << iterations_exp):
        digest = hashlib.sha256(digest).digest()
    return ChaCha.from_hash(digest)


# --- the initial key ----------------------------------------------------------------


def _coefficient_bytes(r1cs: R1CS) -> bytes:
    entries = []
    for row, con in enumerate(r1cs.constraints):
        for matrix, side in ((0, con.a), (1, con.b)):
            for wire in sorted(side):
                entries.append((matrix, row, wire, side[wire]))
    for s in range(r1cs.n_public_total + 1):
        entries.append((0, r1cs.n_constraints + s, s, 1))
    out = bytearray(struct.pack("<I", len(entries)))
    for matrix, row, wire, coeff in entries:
        out += struct.pack("<III", matrix, row, wire)
        out += (coeff * _MONT_R_R % R).to_bytes(32, "little")
    return bytes(out)


def _sum_g1(terms: list[tuple[G1Affine, int]]) -> G1Affine:
    if not terms:
        return None
    return msm_g1([p for p, _ in terms], [k for _, k in terms])


def _sum_g2(terms: list[tuple[G2Affine, int]]) -> G2Affine:
    if not terms:
        return None
    return msm_g2([p for p, _ in terms], [k for _, k in terms])


def check_fits(r1cs: R1CS, ptau: PowersOfTau) -> None:
    """Raise LocalProtocolError, saying what to use instead, unless ``ptau`` can start
    ``r1cs``'s phase 2 (cheap: only the header is read)."""
    n = domain_size(r1cs)
    if n > 1 << ptau.power:
        raise LocalProtocolError(
            f"the circuit needs a phase 1 of power {n.bit_length() - 1} or more; "
            f"this one has power {ptau.power}"
        )
    if n > _H_HASH_CHUNK and n == 1 << ptau.power:
        raise LocalProtocolError(
            f"a circuit of domain 2^{n.bit_length() - 1} needs a phase 1 of power "
            f"{n.bit_length()} or more (snarkjs's circuit hash reads one power past this one)"
        )
    if not ptau.prepared:
        raise LocalProtocolError(
            "the phase-1 file is not prepared for phase 2 (no Lagrange basis): "
            "prepare it first: provernet ceremony ptau prepare POT.ptau --out PREPARED.ptau"
        )


def initial_zkey(
    r1cs: R1CS,
    ptau: PowersOfTau,
    *,
    backend: Backend | None = None,
    progress: Progress | None = None,
) -> ZKey:
    """The circuit's key before any contribution (delta = gamma = 1), from a prepared
    phase 1 of power at least the circuit's (see the module docstring)."""
    report = progress or (lambda _stage, _done, _total: None)
    key, _ = _initial_points(r1cs, ptau, backend=backend or get_backend(), report=report)
    report("hashing the circuit", 3, 4)
    key = replace(key, cs_hash=circuit_hash(key, ptau))
    report("done", 4, 4)
    return key


def _initial_points(
    r1cs: R1CS,
    ptau: PowersOfTau,
    *,
    backend: Backend,
    report: Progress,
    with_b2: bool = True,
    b1_weights: Sequence[int] = (),
    c_weights: Sequence[int] = (),
) -> tuple[ZKey, tuple[G1Affine, G1Affine]]:
    """``initial_zkey`` without its circuit hash and, unless ``with_b2``, without B2 (the
    costliest part: G2 sums), which a verifier checks against B1 instead; with
    ``sum(w * B1)`` and ``sum(w * C)`` for the given per-point weights (None when not
    asked), summed over the phase-1 points already loaded for the key."""
    check_fits(r1cs, ptau)
    n = domain_size(r1cs)
    n_pub, n_vars = r1cs.n_public_total, r1cs.n_wires
    report("reading the phase-1 Lagrange bases", 1, 4)
    tau1 = ptau.lagrange_g1(LAGRANGE_TAU_G1, n)
    tau2 = ptau.lagrange_tau_g2(n) if with_b2 else []
    alpha1 = ptau.lagrange_g1(LAGRANGE_ALPHA_G1, n)
    beta1 = ptau.lagrange_g1(LAGRANGE_BETA_G1, n)
    h = tuple(ptau.lagrange_g1(LAGRANGE_TAU_G1, 2 * n)[1::2])
    # Per wire, (row, coefficient) terms over the Lagrange bases: A and B1 over tau,
    # B2 over tau in G2, C's mix over beta (A's rows), alpha (B's) and tau (C's).
    a_terms: list[list[tuple[int, int]]] = [[] for _ in range(n_vars)]
    b_terms: list[list[tuple[int, int]]] = [[] for _ in range(n_vars)]
    c_terms: list[list[tuple[int, int]]] = [[] for _ in range(n_vars)]
    for row, con in enumerate(r1cs.constraints):
        for wire, k in con.a.items():
            a_terms[wire].append((row, k))
            c_terms[wire].append((n + row, k))
        for wire, k in con.b.items():
            b_terms[wire].append((row, k))
            c_terms[wire].append((2 * n + row, k))
        for wire, k in con.c.items():
            c_terms[wire].append((row, k))
    for s in range(n_pub + 1):
        a_terms[s].append((r1cs.n_constraints + s, 1))
        c_terms[s].append((n + r1cs.n_constraints + s, 1))
    report("summing the wires' points", 2, 4)
    # One call over the three series, so each point is loaded once (loading dominates).
    combos = [
        _weighted(b_terms, b1_weights),
        _weighted(c_terms[n_pub + 1 :], c_weights),
    ]
    sums = backend.group_sums_g1((*tau1, *beta1, *alpha1), [*a_terms, *b_terms, *c_terms, *combos])
    a, b1, mixed = (tuple(sums[i * n_vars : (i + 1) * n_vars]) for i in range(3))
    b1_sum, c_sum = sums[3 * n_vars :]
    b2 = tuple(backend.group_sums_g2(tau2, b_terms)) if with_b2 else ()
    alpha_g1 = ptau.alpha_tau_g1(1)[0]
    beta_g1 = ptau.beta_tau_g1(1)[0]
    beta_g2 = ptau.beta_g2()
    key = ZKey(
        n_vars=n_vars,
        n_public=n_pub,
        domain_size=n,
        alpha_g1=alpha_g1,
        beta_g1=beta_g1,
        beta_g2=beta_g2,
        gamma_g2=G2,
        delta_g1=G1,
        delta_g2=G2,
        ic=mixed[: n_pub + 1],
        coefficients=_coefficient_bytes(r1cs),
        a=a,
        b1=b1,
        b2=b2,
        c=mixed[n_pub + 1 :],
        h=h,
        cs_hash=b"",
    )
    return key, (b1_sum, c_sum)


def _weighted(
    groups: Sequence[Sequence[tuple[int, int]]], weights: Sequence[int]
) -> list[tuple[int, int]]:
    """The one group ``sum_w weights[w] * group_w``, terms merged by point index."""
    merged: dict[int, int] = {}
    for group, w in zip(groups, weights, strict=False):
        for index, k in group:
            merged[index] = (merged.get(index, 0) + w * k) % R
    return list(merged.items())


def circuit_hash(key: ZKey, ptau: PowersOfTau) -> bytes:
    """snarkjs's circuit hash of an initial key: BLAKE2b-512 of its points, with the H
    part taken as ``tau^(i+n) - tau^i`` from the phase-1 powers."""
    n = key.domain_size
    count = n - 1 if n - 1 <= _H_HASH_CHUNK else n  # snarkjs hashes whole chunks past 2^14
    powers = ptau.tau_g1(n + count)
    h = hashlib.blake2b(digest_size=64)
    for part in (
        _u(key.alpha_g1),
        _u(key.beta_g1),
        _u2(key.beta_g2),
        _u2(key.gamma_g2),
        _u(key.delta_g1),
        _u2(key.delta_g2),
    ):
        h.update(part)

    def series(points: Sequence[G1Affine], length: int | None = None) -> None:
        h.update(struct.pack(">I", len(points) if length is None else length))
        for p in points:
            h.update(_u(p))

    series(key.ic)
    series([g1_add(powers[i + n], g1_neg(powers[i])) for i in range(count)], n - 1)
    series(key.c)
    series(key.a)
    series(key.b1)
    h.update(struct.pack(">I", len(key.b2)))
    for q in key.b2:
        h.update(_u2(q))
    return h.digest()


# --- contributing ---------------------------------------------------------------------


def _transcript(key: ZKey, g1_s: G1Affine, g1_sx: G1Affine) -> bytes:
    parts = [key.cs_hash]
    for c in key.contributions:
        parts += [_u(c.delta_after), _u(c.g1_s), _u(c.g1_sx), _u2(c.g2_spx), c.transcript]
    return _blake(*parts, _u(g1_s), _u(g1_sx))


def contribution_hash(c: Phase2Contribution) -> bytes:
    """The hash snarkjs prints for a contribution (what a contributor writes down)."""
    return _blake(_u(c.delta_after), _u(c.g1_s), _u(c.g1_sx), _u2(c.g2_spx), c.transcript)


def _apply(
    key: ZKey,
    x: int,
    g1_s: G1Affine,
    *,
    name: str,
    kind: int,
    beacon_hash: bytes = b"",
    iterations_exp: int = 0,
    backend: Backend | None,
    progress: Progress | None,
) -> ZKey:
    backend = backend or get_backend()
    report = progress or (lambda _stage, _done, _total: None)
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise LocalProtocolError(f"a contribution name is at most {MAX_NAME_BYTES} bytes")
    g1_sx = g1_mul(g1_s, x)
    transcript = _transcript(key, g1_s, g1_sx)
    g2_spx = g2_mul(hash_to_g2(transcript), x)
    delta_g1 = g1_mul(key.delta_g1, x)
    delta_g2 = g2_mul(key.delta_g2, x)
    inverse = pow(x, -1, R)
    report("rescaling C", 1, 3)
    c = tuple(backend.scale_g1(key.c, inverse))
    report("rescaling H", 2, 3)
    h = tuple(backend.scale_g1(key.h, inverse))
    report("done", 3, 3)
    record = Phase2Contribution(
        delta_after=delta_g1,
        g1_s=g1_s,
        g1_sx=g1_sx,
        g2_spx=g2_spx,
        transcript=transcript,
        kind=kind,
        name=name,
        beacon_hash=beacon_hash,
        iterations_exp=iterations_exp,
    )
    return replace(
        key,
        delta_g1=delta_g1,
        delta_g2=delta_g2,
        c=c,
        h=h,
        contributions=(*key.contributions, record),
    )


def contribution_secret(entropy: bytes) -> int:
    """The secret ``contribute`` derives from ``entropy``; nothing but a test of what a
    kept secret allows has a use for it."""
    return derive_scalar(b"provernet/phase2/x", entropy, 2)


def contribute(
    key: ZKey,
    entropy: bytes,
    *,
    name: str = "",
    backend: Backend | None = None,
    progress: Progress | None = None,
) -> ZKey:
    """``key`` with one more contribution whose secret is derived from ``entropy``
    (pass ``os.urandom(64)``; the secret exists only inside this call)."""
    x = contribution_secret(entropy)
    g1_s = g1_mul(G1, derive_scalar(b"provernet/phase2/s", entropy, 2))
    return _apply(
        key,
        x,
        g1_s,
        name=name,
        kind=CONTRIBUTOR,
        backend=backend,
        progress=progress,
    )


def beacon(
    key: ZKey,
    beacon_hash: bytes,
    iterations_exp: int,
    *,
    name: str = "",
    backend: Backend | None = None,
    progress: Progress | None = None,
) -> ZKey:
    """``key`` with the final, public contribution derived from ``beacon_hash``."""
    rng = beacon_rng(beacon_hash, iterations_exp)
    x = rng.scalar()
    g1_s = g1_from_rng(rng)
    return _apply(
        key,
        x,
        g1_s,
        name=name,
        kind=BEACON,
        beacon_hash=beacon_hash,
        iterations_exp=iterations_exp,
        backend=backend,
        progress=progress,
    )


# --- verifying ------------------------------------------------------------------------


@dataclass(frozen=True)
class ContributionReport:
    """One verified contribution."""

    index: int
    name: str
    kind: int
    hash: bytes
    beacon_hash: bytes
    iterations_exp: int


@dataclass(frozen=True)
class Phase2Report:
    """What ``verify_zkey`` established."""

    cs_hash: bytes
    contributions: tuple[ContributionReport, ...]

    @property
    def has_beacon(self) -> bool:
        return bool(self.contributions) and self.contributions[-1].kind == BEACON


def _same_ratio(backend: Backend, a1: G1Affine, b1: G1Affine, a2: G2Affine, b2: G2Affine) -> bool:
    """Whether ``b1 / a1 == b2 / a2``: ``e(a1, b2) == e(b1, a2)``."""
    return backend.pairing_check([(a1, b2), (g1_neg(b1), a2)])


def _coefficients(seed: bytes, label: bytes, count: int) -> list[int]:
    out = []
    for i in range(count):
        digest = hashlib.blake2b(seed + label + i.to_bytes(8, "little"), digest_size=16).digest()
        out.append(int.from_bytes(digest, "little") | 1)
    return out


def verify_zkey(
    key: ZKey,
    r1cs: R1CS,
    ptau: PowersOfTau,
    *,
    seed: bytes,
    initial: ZKey | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
) -> Phase2Report:
    """Check ``key`` against the circuit and phase 1; raise Phase2CheckError on any break.

    ``ptau`` must already have passed ``ptau.check_powers`` (at least for the sizes
    ``n`` and ``2n``); ``seed`` is fresh randomness for the random linear combinations;
    ``initial`` may pass a cached ``initial_zkey(r1cs, ptau)``.

    The G1 part of the initial key is recomputed exactly (the circuit hash covers it).
    B2 is checked against B1 and C and H against the initial ones over delta, each by
    one random linear combination (128-bit coefficients from ``seed``) and a pairing;
    those sums run on the pure path, which beats loading each point natively when
    points are used once and scalars are short.
    """
    backend = backend or get_backend()
    report = progress or (lambda _stage, _done, _total: None)
    steps = 6
    report("recomputing the initial key", 1, steps)
    rs_b = _coefficients(seed, b"B2", r1cs.n_wires)
    rs_c = _coefficients(seed, b"C", r1cs.n_wires - r1cs.n_public_total - 1)
    if initial is None:
        init, (b1_sum, c_sum) = _initial_points(
            r1cs, ptau, backend=backend, report=lambda *_: None, with_b2=False,
            b1_weights=rs_b, c_weights=rs_c,
        )  # fmt: skip
    else:
        init, b1_sum, c_sum = initial, None, msm_g1(initial.c, rs_c)
    fixed: dict[str, tuple[object, object]] = {
        "circuit size (wires, public signals, domain)": (
            (key.n_vars, key.n_public, key.domain_size),
            (init.n_vars, init.n_public, init.domain_size),
        ),
        "alpha_1": (key.alpha_g1, init.alpha_g1),
        "beta_1": (key.beta_g1, init.beta_g1),
        "beta_2": (key.beta_g2, init.beta_g2),
        "gamma_2": (key.gamma_g2, init.gamma_g2),
        "IC": (key.ic, init.ic),
        "coefficients": (key.coefficients, init.coefficients),
        "A": (key.a, init.a),
        "B1": (key.b1, init.b1),
        "B2 size": (len(key.b2), len(key.b1)),
    }
    if init.b2:
        fixed["B2"] = (key.b2, init.b2)
    for what, (got, want) in fixed.items():
        if got != want:
            raise Phase2CheckError(
                f"{what} differs from the key this circuit and phase 1 give: "
                "not this circuit's key, or a phase-1 file other than the one it was made from"
            )
    if not init.b2:
        report("checking B2 against B1", 2, steps)
        # B1 is exact, so sum(r B1) and sum(r B2) share a discrete log iff B2 is right
        # (up to 2^-128): e(sum r B1, G2) == e(G1, sum r B2).
        if not _same_ratio(backend, G1, b1_sum, G2, msm_g2(key.b2, rs_b)):
            raise Phase2CheckError(
                "B2 differs from the key this circuit and phase 1 give: "
                "not this circuit's key, or a phase-1 file other than the one it was made from"
            )
    whole = replace(init, b2=key.b2) if not init.b2 else init
    if key.cs_hash != (init.cs_hash or circuit_hash(whole, ptau)):
        raise Phase2CheckError(
            "circuit hash differs from the key this circuit and phase 1 give: "
            "not this circuit's key, or a phase-1 file other than the one it was made from"
        )
    if len(key.c) != len(init.c) or len(key.h) != len(init.h):
        raise Phase2CheckError("the C or H section has the wrong number of points")
    report("replaying the contributions", 3, steps)
    contributions = _replay(key, backend)
    if key.delta_g1 == G1 or key.delta_g1 is None:
        raise Phase2CheckError("delta is the generator: the key has no contribution")
    if key.gamma_g2 == key.delta_g2:
        raise Phase2CheckError("gamma equals delta: anyone could forge proofs")
    if not _same_ratio(backend, G1, key.delta_g1, G2, key.delta_g2):
        raise Phase2CheckError("delta_1 and delta_2 differ")
    rs_h = _coefficients(seed, b"H", len(key.h))
    for step, (what, now, rs, then) in enumerate(
        (("C", key.c, rs_c, c_sum), ("H", key.h, rs_h, msm_g1(init.h, rs_h))), 4
    ):
        report(f"checking {what} against delta", step, steps)
        left = msm_g1(now, rs)
        if left is None or not _same_ratio(backend, then, left, key.delta_g2, G2):
            raise Phase2CheckError(f"the {what} section is not the initial one divided by delta")
    report("done", steps, steps)
    return Phase2Report(key.cs_hash, contributions)


def _replay(key: ZKey, backend: Backend) -> tuple[ContributionReport, ...]:
    delta = G1
    prefix = replace(key, contributions=())
    out = []
    for index, c in enumerate(key.contributions, start=1):
        where = f"contribution {index}" + (f" ({c.name})" if c.name else "")
        if c.g1_s is None or c.g1_sx is None or c.delta_after is None or c.g2_spx is None:
            raise Phase2CheckError(f"{where}: a point of its public key is at infinity")
        if _transcript(prefix, c.g1_s, c.g1_sx) != c.transcript:
            raise Phase2CheckError(f"{where}: its transcript hash does not follow the chain")
        g2_sp = hash_to_g2(c.transcript)
        if not _same_ratio(backend, c.g1_s, c.g1_sx, g2_sp, c.g2_spx):
            raise Phase2CheckError(f"{where}: no proof of knowledge of its secret")
        if not _same_ratio(backend, delta, c.delta_after, g2_sp, c.g2_spx):
            raise Phase2CheckError(f"{where}: its delta does not follow from the previous one")
        if c.kind == BEACON:
            rng = beacon_rng(c.beacon_hash, c.iterations_exp)
            x = rng.scalar()
            g1_s = g1_from_rng(rng)
            if (g1_s, g1_mul(g1_s, x)) != (c.g1_s, c.g1_sx):
                raise Phase2CheckError(f"{where}: the key is not the one its beacon gives")
        out.append(
            ContributionReport(
                index, c.name, c.kind, contribution_hash(c), c.beacon_hash, c.iterations_exp
            )
        )
        delta = c.delta_after
        prefix = replace(prefix, contributions=(*prefix.contributions, c))
    if key.delta_g1 != delta:
        raise Phase2CheckError("delta_1 is not the last contribution's delta")
    return tuple(out)
