"""Phase 1 of the Groth16 setup: a powers of tau file in snarkjs's ``.ptau`` format.

A ``.ptau`` file is the binary container of ``protocol.r1cs.binfmt`` with magic
``"ptau"``, version 1, and sections (points in snarkjs's LEM encoding, see
``protocol.bn254.encoding``):

- 1 header: ``u32 n8 = 32``, the base field prime (32 bytes LE), ``u32 power``,
  ``u32 ceremony_power`` (the power of the ceremony this file was cut from);
- 2 ``[tau^i]_1`` for ``i < 2^(power+1) - 1``; 3 ``[tau^i]_2``, 4 ``[alpha tau^i]_1``,
  5 ``[beta tau^i]_1`` for ``i < 2^power``; 6 ``[beta]_2``;
- 7 the contributions (snarkjs's records: each contributor's resulting points,
  public key, hashes, type and parameters);
- 12..15, present once the file is *prepared* for phase 2: the same four series in
  the Lagrange basis of every domain ``2^p``, ``p = 0..power`` (section 12 also
  ``p = power + 1``, from the ``2^(power+1) - 1`` powers padded with infinity),
  concatenated in order of ``p``.

``PowersOfTau`` reads points on demand from the file's bytes (any buffer, so a
caller may pass an mmap of a large public file). ``check_powers`` is the
algebraic check that phase 2 relies on: every series holds consecutive powers of
one tau, alpha and beta agree across groups, and the Lagrange sections are the
transforms of the powers; each check is a random linear combination tested with
one pairing equation, so its cost is a few MSMs rather than a pairing per point.
``new_powers_of_tau`` writes a prepared single-contributor file for devnets and
tests: whoever runs it could forge proofs for every circuit set up from it, so
real deployments take a public phase 1 (snarkjs's format is the one the Perpetual
Powers of Tau files use).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from protocol.bn254.backend import Backend, Mapper, get_backend
from protocol.bn254.curve import G1, G2, g1_neg, g2_in_subgroup
from protocol.bn254.encoding import (
    G1_BYTES,
    G2_BYTES,
    g1_batch_from_lem,
    g1_to_lem,
    g2_batch_from_lem,
    g2_to_lem,
)
from protocol.bn254.fields import P, R, fr_inv
from protocol.bn254.ntt import intt, root_of_unity
from protocol.bn254.types import G1Affine, G2Affine
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.groth16.qap import lagrange_at
from protocol.groth16.setup import derive_scalar
from protocol.groth16.zkey import parse_params
from protocol.r1cs.binfmt import section_table

PTAU_MAGIC = b"ptau"
PTAU_VERSION = 1
MAX_POWER = 28  # BN254's Fr has 2^28-th roots of unity
NEW_MAX_POWER = 20  # new_powers_of_tau: larger test files are not useful
HEADER, TAU_G1, TAU_G2, ALPHA_TAU_G1, BETA_TAU_G1, BETA_G2, CONTRIBUTIONS = range(1, 8)
LAGRANGE_TAU_G1, LAGRANGE_TAU_G2, LAGRANGE_ALPHA_G1, LAGRANGE_BETA_G1 = range(12, 16)
SECTION_NAMES = {
    TAU_G1: "tau G1",
    TAU_G2: "tau G2",
    ALPHA_TAU_G1: "alpha tau G1",
    BETA_TAU_G1: "beta tau G1",
    BETA_G2: "beta G2",
    LAGRANGE_TAU_G1: "Lagrange tau G1",
    LAGRANGE_TAU_G2: "Lagrange tau G2",
    LAGRANGE_ALPHA_G1: "Lagrange alpha tau G1",
    LAGRANGE_BETA_G1: "Lagrange beta tau G1",
}
_POWERS = (HEADER, TAU_G1, TAU_G2, ALPHA_TAU_G1, BETA_TAU_G1, BETA_G2, CONTRIBUTIONS)
_PREPARED = (LAGRANGE_TAU_G1, LAGRANGE_TAU_G2, LAGRANGE_ALPHA_G1, LAGRANGE_BETA_G1)
_KNOWN = {*_POWERS, *_PREPARED}
_U32 = struct.Struct("<I")
_SECTION = struct.Struct("<IQ")
_CHALLENGE_BYTES = 64
_PARTIAL_HASH_BYTES = 216  # blake2b's internal state as snarkjs's hasher stores it
_PUBKEY_BYTES = 6 * G1_BYTES + 3 * G2_BYTES
_CHALLENGE_SEED = b"provernet/ptau/check/v1"

Progress = Callable[[str, int, int], None]


class PtauFormatError(RemoteProtocolError):
    """A ``.ptau`` file is malformed: truncated, wrong sizes, points off their curve."""


class PtauCheckError(RemoteProtocolError):
    """A well-formed ``.ptau`` file whose points are not consistent powers of tau."""


@dataclass(frozen=True)
class Phase1Contribution:
    """One contribution as recorded in section 7 (type 0: a person, 1: a beacon)."""

    index: int
    name: str
    kind: int
    next_challenge: bytes
    beacon_hash: bytes = b""
    iterations_exp: int = 0
    tau_g1: G1Affine = field(default=None, repr=False)
    tau_g2: G2Affine = field(default=None, repr=False)


def _series_sizes(power: int) -> dict[int, tuple[int, int]]:
    """Section -> (point count, point size) for a file of ``power``."""
    n = 1 << power
    sizes = {
        TAU_G1: (2 * n - 1, G1_BYTES),
        TAU_G2: (n, G2_BYTES),
        ALPHA_TAU_G1: (n, G1_BYTES),
        BETA_TAU_G1: (n, G1_BYTES),
        BETA_G2: (1, G2_BYTES),
    }
    # Lagrange sections hold sizes 1, 2, 4, ..., 2^power (and 2^(power+1) for tau G1).
    sizes[LAGRANGE_TAU_G1] = (4 * n - 1, G1_BYTES)
    sizes[LAGRANGE_TAU_G2] = (2 * n - 1, G2_BYTES)
    sizes[LAGRANGE_ALPHA_G1] = (2 * n - 1, G1_BYTES)
    sizes[LAGRANGE_BETA_G1] = (2 * n - 1, G1_BYTES)
    return sizes


class PowersOfTau:
    """A parsed ``.ptau`` file; points are decoded (and curve-checked) when asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.sections = section_table(data, PTAU_MAGIC, PTAU_VERSION, _KNOWN, PtauFormatError)
        missing = set(_POWERS) - self.sections.keys()
        if missing:
            raise PtauFormatError(f".ptau lacks section(s) {sorted(missing)}")
        self.power, self.ceremony_power = self._header()
        sizes = _series_sizes(self.power)
        present = [kind for kind in _PREPARED if kind in self.sections]
        if present and len(present) != len(_PREPARED):
            raise PtauFormatError(f".ptau has only some Lagrange sections: {present}")
        self.prepared = bool(present)
        for kind in (TAU_G1, TAU_G2, ALPHA_TAU_G1, BETA_TAU_G1, BETA_G2, *present):
            count, size = sizes[kind]
            got = self.sections[kind][1]
            if got != count * size:
                raise PtauFormatError(
                    f".ptau section {kind} is {got} bytes; power {self.power} needs {count * size}"
                )
        self.contributions = self._contributions()

    def _header(self) -> tuple[int, int]:
        offset, size = self.sections[HEADER]
        if size != 4 + 32 + 8:
            raise PtauFormatError(f".ptau header is {size} bytes, expected 44")
        (n8,) = _U32.unpack_from(self.data, offset)
        prime = int.from_bytes(self.data[offset + 4 : offset + 36], "little")
        if n8 != 32 or prime != P:
            raise PtauFormatError(".ptau is not for BN254 (bn128): wrong base field")
        power, ceremony_power = struct.unpack_from("<II", self.data, offset + 36)
        if not 1 <= power <= MAX_POWER:
            raise PtauFormatError(f".ptau power {power} is outside 1..{MAX_POWER}")
        if ceremony_power < power:
            raise PtauFormatError(f".ptau ceremony power {ceremony_power} is below {power}")
        return power, ceremony_power

    # -- points -----------------------------------------------------------

    def _g1(self, kind: int, start: int, count: int) -> list[G1Affine]:
        offset, _ = self.sections[kind]
        what = f".ptau section {kind} ({SECTION_NAMES[kind]}) point"
        try:
            return g1_batch_from_lem(self.data, offset + start * G1_BYTES, count, what)
        except RemoteProtocolError as exc:
            raise PtauFormatError(str(exc)) from None

    def _g2(self, kind: int, start: int, count: int) -> list[G2Affine]:
        offset, _ = self.sections[kind]
        what = f".ptau section {kind} ({SECTION_NAMES[kind]}) point"
        try:
            return g2_batch_from_lem(
                self.data, offset + start * G2_BYTES, count, what, subgroup=False
            )
        except RemoteProtocolError as exc:
            raise PtauFormatError(str(exc)) from None

    def _range(self, kind: int, count: int) -> None:
        if count > _series_sizes(self.power)[kind][0]:
            raise LocalProtocolError(f"power {self.power} file has fewer than {count} points")

    def tau_g1(self, count: int) -> list[G1Affine]:
        """``[tau^i]_1`` for ``i < count``."""
        self._range(TAU_G1, count)
        return self._g1(TAU_G1, 0, count)

    def tau_g2(self, count: int) -> list[G2Affine]:
        """``[tau^i]_2`` for ``i < count`` (on the twist; subgroup checked in bulk)."""
        self._range(TAU_G2, count)
        return self._g2(TAU_G2, 0, count)

    def alpha_tau_g1(self, count: int) -> list[G1Affine]:
        """``[alpha tau^i]_1`` for ``i < count``."""
        self._range(ALPHA_TAU_G1, count)
        return self._g1(ALPHA_TAU_G1, 0, count)

    def beta_tau_g1(self, count: int) -> list[G1Affine]:
        """``[beta tau^i]_1`` for ``i < count``."""
        self._range(BETA_TAU_G1, count)
        return self._g1(BETA_TAU_G1, 0, count)

    def beta_g2(self) -> G2Affine:
        """``[beta]_2``, checked in the subgroup."""
        offset, _ = self.sections[BETA_G2]
        try:
            (point,) = g2_batch_from_lem(self.data, offset, 1, "beta G2", subgroup=True)
        except RemoteProtocolError as exc:
            raise PtauFormatError(str(exc)) from None
        return point

    def _lagrange_size(self, size: int, kind: int) -> None:
        if not self.prepared:
            raise LocalProtocolError("this .ptau is not prepared for phase 2 (no Lagrange basis)")
        top = self.power + 1 if kind == LAGRANGE_TAU_G1 else self.power
        if size < 1 or size & (size - 1) or size > 1 << top:
            raise LocalProtocolError(
                f"no Lagrange basis of size {size} in a power {self.power} file"
            )

    def lagrange_g1(self, kind: int, size: int) -> list[G1Affine]:
        """Section ``kind`` (12, 14 or 15) in the Lagrange basis of the domain of ``size``."""
        self._lagrange_size(size, kind)
        return self._g1(kind, size - 1, size)

    def lagrange_tau_g2(self, size: int) -> list[G2Affine]:
        """``[L_j(tau)]_2`` for the domain of ``size``."""
        self._lagrange_size(size, LAGRANGE_TAU_G2)
        return self._g2(LAGRANGE_TAU_G2, size - 1, size)

    # -- contributions ----------------------------------------------------

    def _contributions(self) -> tuple[Phase1Contribution, ...]:
        offset, size = self.sections[CONTRIBUTIONS]
        end = offset + size
        if size < 4:
            raise PtauFormatError(".ptau contributions section is truncated")
        (count,) = _U32.unpack_from(self.data, offset)
        pos = offset + 4
        out = []
        fixed = 3 * G1_BYTES + 2 * G2_BYTES + _PUBKEY_BYTES
        for index in range(1, count + 1):
            if pos + fixed + _PARTIAL_HASH_BYTES + _CHALLENGE_BYTES + 8 > end:
                raise PtauFormatError(f".ptau contribution {index} is truncated")
            try:
                (tau_g1,) = g1_batch_from_lem(self.data, pos, 1, f"contribution {index} tau G1")
                (tau_g2,) = g2_batch_from_lem(
                    self.data, pos + G1_BYTES, 1, f"contribution {index} tau G2", subgroup=False
                )
            except RemoteProtocolError as exc:
                raise PtauFormatError(f".ptau {exc}") from None
            pos += fixed + _PARTIAL_HASH_BYTES
            challenge = bytes(self.data[pos : pos + _CHALLENGE_BYTES])
            pos += _CHALLENGE_BYTES
            kind, n_params = struct.unpack_from("<II", self.data, pos)
            pos += 8
            if pos + n_params > end:
                raise PtauFormatError(f".ptau contribution {index}: parameters are truncated")
            params = parse_params(
                bytes(self.data[pos : pos + n_params]),
                f".ptau contribution {index}",
                PtauFormatError,
            )
            pos += n_params
            out.append(
                Phase1Contribution(
                    index=index,
                    name=str(params.get(1, b"").decode("utf-8", "replace")),
                    kind=kind,
                    next_challenge=challenge,
                    beacon_hash=bytes(params.get(3, b"")),
                    iterations_exp=int.from_bytes(params.get(2, b""), "little"),
                    tau_g1=tau_g1,
                    tau_g2=tau_g2,
                )
            )
        if pos != end:
            raise PtauFormatError(".ptau contributions section has trailing bytes")
        return tuple(out)


# --- the algebraic check ----------------------------------------------------


@dataclass(frozen=True)
class PowersReport:
    """What ``check_powers`` established."""

    power: int
    ceremony_power: int
    prepared: bool
    lagrange_sizes_checked: tuple[int, ...]
    contributions: tuple[Phase1Contribution, ...]


class _Challenges:
    """Verifier coefficients: 128-bit values from a hash of the file and a caller seed,
    so a file cannot be crafted against them without knowing the seed."""

    def __init__(self, seed: bytes, data: bytes) -> None:
        self._base = hashlib.blake2b(_CHALLENGE_SEED + seed, digest_size=32)
        self._base.update(bytes(data[: 1 << 16]))
        self._counter = 0

    def take(self, count: int) -> list[int]:
        out = []
        for _ in range(count):
            h = self._base.copy()
            h.update(self._counter.to_bytes(8, "little"))
            self._counter += 1
            out.append(int.from_bytes(h.digest()[:16], "little") | 1)
        return out


def _consecutive_g1(
    backend: Backend, points: Sequence[G1Affine], rs: Sequence[int]
) -> tuple[G1Affine, G1Affine]:
    """``(sum r_i P_i, sum r_i P_{i+1})`` over ``i < len(points) - 1``."""
    low = backend.msm_g1(backend.load_g1(points[:-1]), rs)
    return low, backend.msm_g1(backend.load_g1(points[1:]), rs)


def _consecutive_g2(
    backend: Backend, points: Sequence[G2Affine], rs: Sequence[int]
) -> tuple[G2Affine, G2Affine]:
    """The G2 twin of ``_consecutive_g1``."""
    low = backend.msm_g2(backend.load_g2(points[:-1]), rs)
    return low, backend.msm_g2(backend.load_g2(points[1:]), rs)


def check_powers(
    ptau: PowersOfTau,
    *,
    seed: bytes,
    lagrange_sizes: Sequence[int] | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
) -> PowersReport:
    """Check that ``ptau`` holds consistent powers; raise PtauCheckError on the first break.

    ``seed`` should be fresh randomness (``os.urandom(32)``): the coefficients of the
    random linear combinations depend on it. ``lagrange_sizes`` limits the Lagrange
    check to the domains a circuit uses (default: every size in the file).
    """
    backend = backend or get_backend()
    report = progress or (lambda _stage, _done, _total: None)
    rng = _Challenges(seed, ptau.data)
    n = 1 << ptau.power
    tau_g1 = ptau.tau_g1(2 * n - 1)
    tau_g2 = ptau.tau_g2(n)
    alpha = ptau.alpha_tau_g1(n)
    beta = ptau.beta_tau_g1(n)
    beta_g2 = ptau.beta_g2()
    steps = 6
    if tau_g1[0] != G1 or tau_g2[0] != G2:
        raise PtauCheckError("the first powers are not the generators")
    tau1, tau2 = tau_g1[1], tau_g2[1]
    if tau1 is None or tau1 == G1 or tau2 is None or tau2 == G2 or not g2_in_subgroup(tau2):
        raise PtauCheckError("tau is 0 or 1 (or its G2 point is not in G2)")
    if alpha[0] is None or beta[0] is None or beta_g2 is None:
        raise PtauCheckError("alpha or beta is zero")
    report("tau G1 powers", 1, steps)
    low, high = _consecutive_g1(backend, tau_g1, rng.take(2 * n - 2))
    if not backend.pairing_check([(low, tau2), (g1_neg(high), G2)]):
        raise PtauCheckError("tau G1 points are not consecutive powers of tau")
    report("tau G2 powers", 2, steps)
    low2, high2 = _consecutive_g2(backend, tau_g2, rng.take(n - 1))
    if low2 is None or high2 is None or not (g2_in_subgroup(low2) and g2_in_subgroup(high2)):
        raise PtauCheckError("a tau G2 point is not in G2")
    if not backend.pairing_check([(tau1, low2), (g1_neg(G1), high2)]):
        raise PtauCheckError("tau G2 points are not the powers of the same tau")
    for step, (name, series) in enumerate((("alpha", alpha), ("beta", beta)), start=3):
        report(f"{name} tau G1 powers", step, steps)
        low, high = _consecutive_g1(backend, series, rng.take(n - 1))
        if not backend.pairing_check([(low, tau2), (g1_neg(high), G2)]):
            raise PtauCheckError(f"{name} tau G1 points are not {name} times powers of tau")
    if not backend.pairing_check([(beta[0], G2), (g1_neg(G1), beta_g2)]):
        raise PtauCheckError("beta G1 and beta G2 differ")
    checked: tuple[int, ...] = ()
    if ptau.prepared:
        report("Lagrange bases", 5, steps)
        checked = _check_lagrange(ptau, tau_g1, tau_g2, alpha, beta, rng, lagrange_sizes, backend)
    report("done", steps, steps)
    return PowersReport(ptau.power, ptau.ceremony_power, ptau.prepared, checked, ptau.contributions)


def lagrange_weights(rs: Sequence[int], size: int) -> list[int]:
    """Scalars ``s`` with ``sum_j r_j L_j(x) = sum_i s_i x^i`` on the domain of ``size``."""
    # L_j(x) = (1/n) sum_i omega^(-ij) x^i, so s_i = (1/n) sum_j r_j omega^(-ij): an inverse NTT.
    return intt(list(rs), root_of_unity(size)) if size > 1 else [rs[0] % R]


def _check_lagrange(
    ptau: PowersOfTau,
    tau_g1: list[G1Affine],
    tau_g2: list[G2Affine],
    alpha: list[G1Affine],
    beta: list[G1Affine],
    rng: _Challenges,
    sizes: Sequence[int] | None,
    backend: Backend,
) -> tuple[int, ...]:
    n = 1 << ptau.power
    wanted = sorted(set(sizes)) if sizes is not None else [1 << p for p in range(ptau.power + 2)]
    done = []
    for size in wanted:
        series: list[tuple[int, list[G1Affine]]] = [(LAGRANGE_TAU_G1, tau_g1)]
        if size <= n:
            series += [(LAGRANGE_ALPHA_G1, alpha), (LAGRANGE_BETA_G1, beta)]
        for kind, powers in series:
            rs = rng.take(size)
            lagrange = ptau.lagrange_g1(kind, size)
            weights = lagrange_weights(rs, size)
            # The 2^(power+1) basis is made from powers padded with infinity.
            bases = powers[:size] + [None] * (size - len(powers[:size]))
            left = backend.msm_g1(backend.load_g1(lagrange), rs)
            right = backend.msm_g1(backend.load_g1(bases), weights)
            if left != right:
                raise PtauCheckError(
                    f"section {kind} ({SECTION_NAMES[kind]}): "
                    f"the size-{size} Lagrange basis is wrong"
                )
        if size <= n:
            rs = rng.take(size)
            lagrange2 = ptau.lagrange_tau_g2(size)
            left2 = backend.msm_g2(backend.load_g2(lagrange2), rs)
            right2 = backend.msm_g2(backend.load_g2(tau_g2[:size]), lagrange_weights(rs, size))
            if left2 != right2:
                raise PtauCheckError(
                    f"section 13 (Lagrange tau G2): the size-{size} basis is wrong"
                )
        done.append(size)
    return tuple(done)


# --- writing ---------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Phase1Secret:
    """The scalars of a single-contributor phase 1; must be dropped once written."""

    tau: int
    alpha: int
    beta: int

    def __post_init__(self) -> None:
        for name in ("tau", "alpha", "beta"):
            if not 1 < getattr(self, name) < R:
                raise LocalProtocolError(f"phase-1 {name} must be in [2, R)")

    def __repr__(self) -> str:
        return "Phase1Secret(<secret>)"

    @classmethod
    def from_entropy(cls, entropy: bytes) -> Phase1Secret:
        """Derive the scalars from at least 32 bytes of entropy."""
        label = b"provernet/ptau/secret/v1/"
        names = ("tau", "alpha", "beta")
        return cls(*(derive_scalar(label + name.encode(), entropy, 2) for name in names))


def _section(kind: int, payload: bytes) -> bytes:
    return _SECTION.pack(kind, len(payload)) + payload


def _file(payloads: dict[int, bytes], kinds: Sequence[int]) -> bytes:
    """A ``.ptau`` file of the sections ``kinds``, in that order, from ``payloads``."""
    body = b"".join(_section(kind, payloads[kind]) for kind in kinds)
    return PTAU_MAGIC + struct.pack("<II", PTAU_VERSION, len(kinds)) + body


def _payloads(ptau: PowersOfTau) -> dict[int, bytes]:
    """Every section of ``ptau``'s file, its payload as stored."""
    return {kind: bytes(ptau.data[at : at + size]) for kind, (at, size) in ptau.sections.items()}


def _powers(x: int, count: int, scale: int = 1) -> list[int]:
    out, acc = [], scale % R
    for _ in range(count):
        out.append(acc)
        acc = acc * x % R
    return out


def new_powers_of_tau(
    power: int,
    secret: Phase1Secret,
    *,
    backend: Backend | None = None,
    progress: Progress | None = None,
) -> bytes:
    """A prepared ``.ptau`` of ``power`` made from one secret (devnets and tests only).

    The file records no contribution (it is not the result of a ceremony);
    ``ceremony_power`` equals ``power``.
    """
    if not 1 <= power <= NEW_MAX_POWER:
        raise LocalProtocolError(f"power must be in 1..{NEW_MAX_POWER}, got {power}")
    backend = backend or get_backend()
    report = progress or (lambda _stage, _done, _total: None)
    n = 1 << power
    tau, alpha, beta = secret.tau, secret.alpha, secret.beta
    lag = {p: lagrange_at(tau, 1 << p) if p else [1] for p in range(power + 2)}
    bases = [v for p in range(power + 1) for v in lag[p]]
    steps = 8
    g1_series = [
        ("tau G1", TAU_G1, _powers(tau, 2 * n - 1)),
        ("alpha tau G1", ALPHA_TAU_G1, _powers(tau, n, alpha)),
        ("beta tau G1", BETA_TAU_G1, _powers(tau, n, beta)),
        (
            "Lagrange tau G1",
            LAGRANGE_TAU_G1,
            [v for p in range(power + 2) for v in _padded_lagrange(lag[p], p, power, tau)],
        ),
        (
            "Lagrange alpha G1",
            LAGRANGE_ALPHA_G1,
            [alpha * v % R for p in range(power + 1) for v in lag[p]],
        ),
        (
            "Lagrange beta G1",
            LAGRANGE_BETA_G1,
            [beta * v % R for p in range(power + 1) for v in lag[p]],
        ),
    ]
    payloads: dict[int, bytes] = {}
    for step, (stage, kind, scalars) in enumerate(g1_series, start=1):
        report(stage, step, steps)
        payloads[kind] = b"".join(g1_to_lem(p) for p in backend.g1_fixed_base_batch(G1, scalars))
    report("tau G2", 7, steps)
    g2_scalars = [*_powers(tau, n), beta, *bases]
    g2_points = [g2_to_lem(p) for p in backend.g2_fixed_base_batch(G2, g2_scalars)]
    payloads[TAU_G2] = b"".join(g2_points[:n])
    payloads[BETA_G2] = g2_points[n]
    payloads[LAGRANGE_TAU_G2] = b"".join(g2_points[n + 1 :])
    report("written", steps, steps)
    header = _U32.pack(32) + P.to_bytes(32, "little") + struct.pack("<II", power, power)
    payloads[HEADER] = header
    payloads[CONTRIBUTIONS] = _U32.pack(0)
    return _file(payloads, (*_POWERS, *_PREPARED))


def prepare_phase2(
    data: bytes,
    *,
    backend: Backend | None = None,
    progress: Progress | None = None,
    mapper: Mapper | None = None,
) -> bytes:
    """``data`` (an unprepared ``.ptau``) prepared for phase 2: sections 1 to 7 as they
    were, then the four series in the Lagrange basis of every domain (what snarkjs's
    ``powersoftau prepare phase2`` writes), computed from the points alone by inverse
    DFTs over the groups. The powers are not checked here: ``check_powers`` the result
    (it checks the new sections against the powers too). With a ``mapper`` the four
    series are computed as its parts (each reads ``data`` itself)."""
    ptau = PowersOfTau(data)
    if ptau.prepared:
        raise LocalProtocolError("this .ptau is already prepared for phase 2")
    backend = backend or get_backend()
    report = progress or (lambda _stage, _done, _total: None)
    # Costliest first, so parts run side by side finish together.
    kinds = [LAGRANGE_TAU_G2, LAGRANGE_TAU_G1, LAGRANGE_ALPHA_G1, LAGRANGE_BETA_G1]
    payloads = _payloads(ptau)
    if mapper is None:
        for step, kind in enumerate(kinds, start=1):
            report(SECTION_NAMES[kind], step, len(kinds) + 1)
            payloads[kind] = _lagrange_section(ptau, kind, backend)
    else:
        report("the four Lagrange series, side by side", 1, len(kinds) + 1)
        parts = [(data, kind, backend.name) for kind in kinds]
        payloads.update(zip(kinds, mapper(lagrange_section_of, parts), strict=True))
    report("written", len(kinds) + 1, len(kinds) + 1)
    return _file(payloads, (*_POWERS, *_PREPARED))


def lagrange_section_of(part: tuple[bytes, int, str]) -> bytes:
    """Lagrange section ``kind`` of the ``.ptau`` ``data`` on the backend named, for
    ``part = (data, kind, backend name)`` (a mapper's part: it may run elsewhere)."""
    data, kind, backend_name = part
    return _lagrange_section(PowersOfTau(data), kind, get_backend(backend_name))


def _lagrange_section(ptau: PowersOfTau, kind: int, backend: Backend) -> bytes:
    """Section ``kind`` (12 to 15) computed from ``ptau``'s powers."""
    n = 1 << ptau.power
    sizes = [1 << p for p in range(ptau.power + 1)]
    if kind == LAGRANGE_TAU_G2:
        bases = backend.ifft_g2(ptau.tau_g2(n), sizes)
        return b"".join(g2_to_lem(q) for basis in bases for q in basis)
    if kind == LAGRANGE_TAU_G1:
        # The doubled domain's basis comes from the 2n - 1 powers with infinity last.
        points = [*ptau.tau_g1(2 * n - 1), None]
        sizes = [*sizes, 2 * n]
    elif kind == LAGRANGE_ALPHA_G1:
        points = ptau.alpha_tau_g1(n)
    else:
        points = ptau.beta_tau_g1(n)
    return b"".join(g1_to_lem(p) for basis in backend.ifft_g1(points, sizes) for p in basis)


def unprepared(data: bytes) -> bytes:
    """``data`` without its Lagrange sections (sections 1 to 7 only)."""
    return _file(_payloads(PowersOfTau(data)), _POWERS)


def _padded_lagrange(values: list[int], p: int, power: int, tau: int) -> list[int]:
    """The size-``2^p`` basis; at ``p = power + 1`` the one snarkjs makes from the powers
    with the last (``tau^(2^(power+1) - 1)``) replaced by infinity."""
    if p <= power:
        return values
    size = 1 << p
    top = pow(tau, size - 1, R)
    # L_j has x^(size-1) coefficient omega^(-j(size-1)) / size = omega^j / size.
    omega, inv = root_of_unity(size), fr_inv(size)
    out, w = [], 1
    for v in values:
        out.append((v - w * inv % R * top) % R)
        w = w * omega % R
    return out
