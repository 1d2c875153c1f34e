"""Phase-1 files in snarkjs's .ptau format: reading snarkjs's, writing ours, the algebraic check."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from node.parallel import process_map
from protocol.bn254.backend import available_backends, get_backend
from protocol.bn254.curve import G1, G2, g1_mul
from protocol.bn254.encoding import G1_BYTES, G2_BYTES, g1_to_lem, g2_to_lem
from protocol.bn254.g2 import g2_mul
from protocol.errors import LocalProtocolError
from protocol.groth16.ptau import (
    ALPHA_TAU_G1,
    BETA_G2,
    BETA_TAU_G1,
    LAGRANGE_ALPHA_G1,
    LAGRANGE_BETA_G1,
    LAGRANGE_TAU_G1,
    LAGRANGE_TAU_G2,
    TAU_G1,
    TAU_G2,
    Phase1Secret,
    PowersOfTau,
    PtauCheckError,
    PtauFormatError,
    check_powers,
    new_powers_of_tau,
    prepare_phase2,
    unprepared,
)
from protocol.groth16.snarkjs import proof_from_json, public_from_json, vk_from_json
from protocol.groth16.verify import verify
from protocol.r1cs.binfmt import r1cs_to_bytes, wtns_to_bytes
from tests.protocol.circuits import cubic, cubic_witness
from tests.protocol.snarkjs_cli import run_snarkjs

POWER = 4
SEED = b"test coefficients".ljust(32, b".")


@pytest.fixture(scope="module")
def ours() -> bytes:
    return new_powers_of_tau(POWER, Phase1Secret.from_entropy(b"ptau test".ljust(32, b".")))


@pytest.fixture(scope="module")
def snarkjs_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snarkjs phase 1: new, one contribution, a beacon, prepared, and the unprepared one."""
    d = tmp_path_factory.mktemp("snarkjs-ptau")
    beacon = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
    for step in (
        ["powersoftau", "new", "bn128", str(POWER), "p0.ptau"],
        ["powersoftau", "contribute", "p0.ptau", "p1.ptau", "--name=alice", "-e=alice entropy"],
        ["powersoftau", "beacon", "p1.ptau", "p2.ptau", beacon, "10", "-n=final beacon"],
        ["powersoftau", "prepare", "phase2", "p2.ptau", "final.ptau"],
    ):
        proc = run_snarkjs(*step, cwd=d)
        assert proc.returncode == 0, f"{step}: {proc.stdout}{proc.stderr}"
    return d


@pytest.mark.snarkjs
def test_a_snarkjs_phase_1_reads_and_checks(snarkjs_files: Path) -> None:
    ptau = PowersOfTau((snarkjs_files / "final.ptau").read_bytes())
    assert (ptau.power, ptau.ceremony_power, ptau.prepared) == (POWER, POWER, True)
    assert [(c.name, c.kind) for c in ptau.contributions] == [("alice", 0), ("final beacon", 1)]
    beacon = ptau.contributions[1]
    assert (beacon.iterations_exp, beacon.beacon_hash[:2]) == (10, b"\x01\x02")
    # The last contribution's recorded tau is the file's tau.
    assert beacon.tau_g1 == ptau.tau_g1(2)[1]
    report = check_powers(ptau, seed=SEED)
    assert report.lagrange_sizes_checked == tuple(1 << p for p in range(POWER + 2))


@pytest.mark.snarkjs
def test_an_unprepared_file_checks_but_has_no_lagrange_basis(snarkjs_files: Path) -> None:
    ptau = PowersOfTau((snarkjs_files / "p2.ptau").read_bytes())
    assert not ptau.prepared
    assert check_powers(ptau, seed=SEED).lagrange_sizes_checked == ()
    with pytest.raises(LocalProtocolError, match="not prepared for phase 2"):
        ptau.lagrange_g1(LAGRANGE_TAU_G1, 8)


@pytest.mark.snarkjs
def test_we_prepare_a_snarkjs_phase_1_exactly_as_snarkjs_does(snarkjs_files: Path) -> None:
    """snarkjs's own contributed, beaconed and unprepared file, prepared here: byte for
    byte the file ``snarkjs powersoftau prepare phase2`` wrote, and it checks."""
    raw = (snarkjs_files / "p2.ptau").read_bytes()
    prepared = prepare_phase2(raw)
    assert prepared == (snarkjs_files / "final.ptau").read_bytes()
    report = check_powers(PowersOfTau(prepared), seed=SEED)
    assert report.lagrange_sizes_checked == tuple(1 << p for p in range(POWER + 2))


@pytest.mark.parametrize("backend", ["pure", "native", "native in processes"])
def test_preparing_gives_the_lagrange_bases_the_secret_gives(ours: bytes, backend: str) -> None:
    """The inverse DFTs over the points equal the Lagrange bases new_powers_of_tau
    computes from the secret itself, on every backend and split over processes."""
    if backend != "pure" and "zksnake" not in available_backends():
        pytest.skip("the native wheel is not installed")
    mapper = process_map if backend == "native in processes" else None
    chosen = get_backend("pure" if backend == "pure" else "zksnake")
    stages: list[str] = []

    def progress(stage: str, _done: int, _total: int) -> None:
        stages.append(stage)

    prepared = prepare_phase2(unprepared(ours), backend=chosen, progress=progress, mapper=mapper)
    assert prepared == ours
    assert stages[-1] == "written"
    assert len(stages) == (2 if mapper else 5)
    with pytest.raises(LocalProtocolError, match="already prepared"):
        prepare_phase2(ours)


@pytest.mark.snarkjs
def test_our_phase_1_has_snarkjs_layout_and_sets_up_a_snarkjs_circuit(
    ours: bytes, snarkjs_files: Path, tmp_path: Path
) -> None:
    theirs = PowersOfTau((snarkjs_files / "final.ptau").read_bytes())
    mine = PowersOfTau(ours)
    for kind in (TAU_G1, TAU_G2, ALPHA_TAU_G1, BETA_TAU_G1, BETA_G2, *range(12, 16)):
        assert mine.sections[kind][1] == theirs.sections[kind][1], kind
    (tmp_path / "pot.ptau").write_bytes(ours)
    (tmp_path / "c.r1cs").write_bytes(r1cs_to_bytes(cubic()))
    (tmp_path / "w.wtns").write_bytes(wtns_to_bytes(cubic_witness(4)))
    for step in (
        ["groth16", "setup", "c.r1cs", "pot.ptau", "c0.zkey"],
        ["zkey", "contribute", "c0.zkey", "c.zkey", "--name=t", "-e=phase two entropy"],
        ["zkey", "verify", "c.r1cs", "pot.ptau", "c.zkey"],
        ["zkey", "export", "verificationkey", "c.zkey", "vk.json"],
        ["groth16", "prove", "c.zkey", "w.wtns", "proof.json", "public.json"],
    ):
        proc = run_snarkjs(*step, cwd=tmp_path)
        assert proc.returncode == 0, f"{step}: {proc.stdout}{proc.stderr}"
    vk = vk_from_json(json.loads((tmp_path / "vk.json").read_text()))
    proof = proof_from_json(json.loads((tmp_path / "proof.json").read_text()))
    public = public_from_json(json.loads((tmp_path / "public.json").read_text()))
    assert verify(vk, public, proof)


def test_our_phase_1_checks(ours: bytes) -> None:
    ptau = PowersOfTau(ours)
    assert (ptau.power, ptau.prepared, ptau.contributions) == (POWER, True, ())
    stages: list[str] = []
    report = check_powers(ptau, seed=SEED, progress=lambda stage, _d, _t: stages.append(stage))
    assert report.lagrange_sizes_checked == tuple(1 << p for p in range(POWER + 2))
    assert stages[0] == "tau G1 powers"
    assert stages[-1] == "done"
    only = check_powers(ptau, seed=SEED, lagrange_sizes=[8, 32])
    assert only.lagrange_sizes_checked == (8, 32)


def _replace(data: bytes, kind: int, index: int, encoded: bytes) -> bytes:
    offset = PowersOfTau(data).sections[kind][0] + index * len(encoded)
    out = bytearray(data)
    out[offset : offset + len(encoded)] = encoded
    return bytes(out)


OTHER_G1 = g1_to_lem(g1_mul(G1, 7))
OTHER_G2 = g2_to_lem(g2_mul(G2, 7))
Tamper = Callable[[bytes], bytes]
TAMPERS: dict[str, tuple[Tamper, str]] = {
    "tau G1 generator": (lambda d: _replace(d, TAU_G1, 0, OTHER_G1), "generators"),
    "tau G1 power": (lambda d: _replace(d, TAU_G1, 20, OTHER_G1), "tau G1 points"),
    "last tau G1 power": (lambda d: _replace(d, TAU_G1, 30, OTHER_G1), "tau G1 points"),
    "tau G2 power": (lambda d: _replace(d, TAU_G2, 5, OTHER_G2), "tau G2 points"),
    "alpha tau": (lambda d: _replace(d, ALPHA_TAU_G1, 3, OTHER_G1), "alpha tau"),
    "beta tau": (lambda d: _replace(d, BETA_TAU_G1, 15, OTHER_G1), "beta tau"),
    "beta G2": (lambda d: _replace(d, BETA_G2, 0, OTHER_G2), "beta G1 and beta G2"),
    "tau is one": (lambda d: _replace(d, TAU_G1, 1, g1_to_lem(G1)), "tau is 0 or 1"),
    "Lagrange tau G1": (lambda d: _replace(d, LAGRANGE_TAU_G1, 40, OTHER_G1), "section 12"),
    "Lagrange tau G2": (lambda d: _replace(d, LAGRANGE_TAU_G2, 9, OTHER_G2), "section 13"),
    "Lagrange alpha": (lambda d: _replace(d, LAGRANGE_ALPHA_G1, 2, OTHER_G1), "section 14"),
    "Lagrange beta": (lambda d: _replace(d, LAGRANGE_BETA_G1, 30, OTHER_G1), "section 15"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_one_altered_point_is_refused(ours: bytes, name: str) -> None:
    tamper, message = TAMPERS[name]
    with pytest.raises(PtauCheckError, match=message):
        check_powers(PowersOfTau(tamper(ours)), seed=SEED)


def _header_with(data: bytes, power: int | None = None, prime: bytes | None = None) -> bytes:
    offset = PowersOfTau(data).sections[1][0]
    out = bytearray(data)
    if prime is not None:
        out[offset + 4 : offset + 36] = prime
    if power is not None:
        out[offset + 36 : offset + 40] = struct.pack("<I", power)
    return bytes(out)


def test_malformed_files_are_refused_with_the_reason(ours: bytes) -> None:
    cases: dict[str, tuple[bytes, str]] = {
        "magic": (b"zkey" + ours[4:], "bad magic"),
        "version": (ours[:4] + struct.pack("<I", 2) + ours[8:], "version 2"),
        "truncated": (ours[:-10], "runs past the end"),
        "trailing": (ours + b"\0", "trailing bytes"),
        "power": (_header_with(ours, power=3), "power 3 needs"),
        "ceremony power": (_header_with(ours, power=5), "ceremony power 4 is below 5"),
        "power zero": (_header_with(ours, power=0), "outside 1..28"),
        "prime": (_header_with(ours, prime=bytes(32)), "not for BN254"),
        "off curve": (_replace(ours, TAU_G1, 3, b"\1" * G1_BYTES), "not on G1"),
        "off twist": (_replace(ours, TAU_G2, 3, b"\1" * G2_BYTES), "not on the G2 twist"),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(PtauFormatError, match=message):
            _check(data)
        assert name


def _check(data: bytes) -> None:
    check_powers(PowersOfTau(data), seed=SEED)


def test_new_refuses_bad_powers_and_hides_its_secret() -> None:
    secret = Phase1Secret.from_entropy(bytes(32))
    assert "secret" in repr(secret)
    assert str(secret.tau) not in repr(secret)
    for power in (0, 21):
        with pytest.raises(LocalProtocolError, match=r"power must be in 1\.\.20"):
            new_powers_of_tau(power, secret)
    with pytest.raises(LocalProtocolError, match="32 bytes"):
        Phase1Secret.from_entropy(b"short")
