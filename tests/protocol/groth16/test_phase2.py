"""Phase 2: the initial key, contributions, the beacon and transcript verification,
against snarkjs in both directions, and the forgeries a kept secret does not allow."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from protocol.bn254.curve import G1, G2, g1_mul
from protocol.bn254.fields import R
from protocol.bn254.g2 import g2_mul
from protocol.errors import LocalProtocolError
from protocol.groth16.keys import Proof
from protocol.groth16.phase2 import (
    Phase2CheckError,
    beacon,
    contribute,
    contribution_secret,
    initial_zkey,
    verify_zkey,
)
from protocol.groth16.prove import prove
from protocol.groth16.ptau import Phase1Secret, PowersOfTau, new_powers_of_tau
from protocol.groth16.qap import wire_evaluations
from protocol.groth16.snarkjs import (
    proof_from_json,
    proof_to_json,
    public_from_json,
    public_to_json,
    vk_to_json,
)
from protocol.groth16.verify import verify
from protocol.groth16.zkey import ZKey, ZKeyFormatError, zkey_from_bytes, zkey_to_bytes
from protocol.r1cs.binfmt import r1cs_to_bytes, wtns_to_bytes
from protocol.r1cs.system import R1CS
from tests.protocol.circuits import product_sum, product_sum_witness
from tests.protocol.snarkjs_cli import run_snarkjs

POWER = 4
SEED = b"phase two coefficients".ljust(32, b".")
BEACON_VALUE = bytes(range(1, 33))
PHASE1 = Phase1Secret.from_entropy(b"phase two test phase 1".ljust(32, b"."))


def _entropy(label: str) -> bytes:
    return label.encode().ljust(64, b".")


@pytest.fixture(scope="module")
def circuit() -> R1CS:
    return product_sum(3)


@pytest.fixture(scope="module")
def witness() -> list[int]:
    return product_sum_witness(6, 7, 3)


@pytest.fixture(scope="module")
def ptau() -> PowersOfTau:
    return PowersOfTau(new_powers_of_tau(POWER, PHASE1))


@pytest.fixture(scope="module")
def initial(circuit: R1CS, ptau: PowersOfTau) -> ZKey:
    return initial_zkey(circuit, ptau)


@pytest.fixture(scope="module")
def final(initial: ZKey) -> ZKey:
    key = contribute(initial, _entropy("registrant"), name="registrant")
    key = contribute(key, _entropy("prover"), name="prover")
    return beacon(key, BEACON_VALUE, 10, name="beacon")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, circuit: R1CS, ptau: PowersOfTau) -> Path:
    d = tmp_path_factory.mktemp("phase2")
    (d / "c.r1cs").write_bytes(r1cs_to_bytes(circuit))
    (d / "pot.ptau").write_bytes(ptau.data)
    return d


def _snarkjs(d: Path, *steps: list[str]) -> None:
    for step in steps:
        proc = run_snarkjs(*step, cwd=d)
        assert proc.returncode == 0, f"{step}: {proc.stdout}{proc.stderr}"


@pytest.mark.snarkjs
def test_the_initial_key_is_the_one_snarkjs_computes(files: Path, initial: ZKey) -> None:
    _snarkjs(files, ["groth16", "setup", "c.r1cs", "pot.ptau", "init.zkey"])
    assert zkey_from_bytes((files / "init.zkey").read_bytes()) == initial


@pytest.mark.snarkjs
def test_snarkjs_verifies_our_ceremony_and_proves_with_its_key(
    files: Path, final: ZKey, witness: list[int]
) -> None:
    (files / "ours.zkey").write_bytes(zkey_to_bytes(final))
    (files / "w.wtns").write_bytes(wtns_to_bytes(witness))
    _snarkjs(
        files,
        ["zkey", "verify", "c.r1cs", "pot.ptau", "ours.zkey"],
        ["groth16", "prove", "ours.zkey", "w.wtns", "proof.json", "public.json"],
    )
    proof = proof_from_json(json.loads((files / "proof.json").read_text()))
    public = public_from_json(json.loads((files / "public.json").read_text()))
    assert verify(final.verifying_key(), public, proof)


@pytest.mark.snarkjs
def test_a_chain_mixing_snarkjs_and_us_verifies_on_both_sides(
    files: Path, circuit: R1CS, ptau: PowersOfTau, initial: ZKey, witness: list[int]
) -> None:
    (files / "k1.zkey").write_bytes(zkey_to_bytes(contribute(initial, _entropy("a"), name="a")))
    _snarkjs(files, ["zkey", "contribute", "k1.zkey", "k2.zkey", "--name=snarkjs", "-e=b"])
    ours = contribute(zkey_from_bytes((files / "k2.zkey").read_bytes()), _entropy("c"), name="c")
    (files / "k3.zkey").write_bytes(zkey_to_bytes(ours))
    beacon_hex = BEACON_VALUE.hex()
    _snarkjs(
        files,
        ["zkey", "beacon", "k3.zkey", "k4.zkey", beacon_hex, "10", "-n=snarkjs beacon"],
        ["zkey", "verify", "c.r1cs", "pot.ptau", "k4.zkey"],
        ["zkey", "export", "verificationkey", "k4.zkey", "vk.json"],
    )
    key = zkey_from_bytes((files / "k4.zkey").read_bytes())
    report = verify_zkey(key, circuit, ptau, seed=SEED, initial=initial)
    assert [c.name for c in report.contributions] == ["a", "snarkjs", "c", "snarkjs beacon"]
    assert report.has_beacon
    # Our beacon from the same value and the same predecessor is the same contribution.
    assert (
        beacon(ours, BEACON_VALUE, 10, name="snarkjs beacon").contributions[-1]
        == (key.contributions[-1])
    )
    # Our prover on the snarkjs-finished key; snarkjs checks the proof.
    proof = prove(key.proving_key(), circuit, witness, 0x1234, 0x5678)
    public = witness[1 : 1 + circuit.n_public_total]
    (files / "p.json").write_text(json.dumps(_proof_json(proof)))
    (files / "pub.json").write_text(json.dumps(public_to_json(public)))
    _snarkjs(files, ["groth16", "verify", "vk.json", "pub.json", "p.json"])
    assert json.loads((files / "vk.json").read_text()) | {"vk_alphabeta_12": None} == (
        vk_to_json(key.verifying_key()) | {"vk_alphabeta_12": None}
    )


def _proof_json(proof: Proof) -> dict[str, object]:
    return proof_to_json(proof)


def test_our_ceremony_verifies_and_proves(
    final: ZKey, circuit: R1CS, ptau: PowersOfTau, initial: ZKey, witness: list[int]
) -> None:
    stages: list[str] = []
    report = verify_zkey(
        final, circuit, ptau, seed=SEED, progress=lambda stage, _d, _t: stages.append(stage)
    )
    assert [c.name for c in report.contributions] == ["registrant", "prover", "beacon"]
    assert stages[-1] == "done"
    assert zkey_from_bytes(zkey_to_bytes(final)) == final
    proof = prove(final.proving_key(), circuit, witness, 0x1234, 0x5678)
    public = witness[1 : 1 + circuit.n_public_total]
    assert verify(final.verifying_key(), public, proof)
    assert not verify(final.verifying_key(), [public[0] + 1, *public[1:]], proof)


# --- forgeries and tampering ---------------------------------------------------------------


def _forge(circuit: R1CS, public: list[int], delta: int) -> Proof:
    """The Groth16 simulator: a proof of any public values from phase 1's tau, alpha and
    beta (this test's phase 1 is a devnet one, its secret known) and a guess of delta."""
    a_tau, b_tau, c_tau, _ = wire_evaluations(circuit, PHASE1.tau)
    n_ic = circuit.n_public_total + 1
    ic = [(PHASE1.beta * a_tau[i] + PHASE1.alpha * b_tau[i] + c_tau[i]) % R for i in range(n_ic)]
    x, y = 0x1111, 0x2222
    acc = (ic[0] + sum(v * ic[i + 1] for i, v in enumerate(public))) % R
    c = (x * y - PHASE1.alpha * PHASE1.beta - acc) * pow(delta, -1, R) % R
    return Proof(g1_mul(G1, x), g2_mul(G2, y), g1_mul(G1, c))


def test_a_kept_secret_forges_until_one_honest_contribution_follows(
    initial: ZKey, circuit: R1CS
) -> None:
    lie = list(range(1, circuit.n_public_total + 1))
    kept = contribution_secret(_entropy("registrant"))
    alone = contribute(initial, _entropy("registrant"), name="registrant")
    assert verify(alone.verifying_key(), lie, _forge(circuit, lie, kept))
    joined = contribute(alone, _entropy("honest prover"), name="honest prover")
    verify_zkey(joined, circuit, PowersOfTau(new_powers_of_tau(POWER, PHASE1)), seed=SEED)
    assert not verify(joined.verifying_key(), lie, _forge(circuit, lie, kept))
    # What stands between the registrant and a forgery is exactly the honest secret.
    honest = contribution_secret(_entropy("honest prover"))
    assert verify(joined.verifying_key(), lie, _forge(circuit, lie, kept * honest % R))


def _swap_contributions(key: ZKey) -> ZKey:
    c = key.contributions
    return replace(key, contributions=(c[1], c[0], *c[2:]))


def _last(key: ZKey, **changes: object) -> ZKey:
    last = replace(key.contributions[-1], **changes)  # type: ignore[arg-type]
    return replace(key, contributions=(*key.contributions[:-1], last))


OTHER = g1_mul(G1, 5)


def _other_b2(key: ZKey) -> ZKey:
    """B2 with one wire's point replaced (the last one B uses), B1 left as it was."""
    i = max(i for i, q in enumerate(key.b2) if q is not None)
    return replace(key, b2=(*key.b2[:i], g2_mul(G2, 5), *key.b2[i + 1 :]))


TAMPERS: dict[str, tuple[Callable[[ZKey], ZKey], str]] = {
    "C point": (lambda k: replace(k, c=(OTHER, *k.c[1:])), "C section"),
    "H point": (lambda k: replace(k, h=(*k.h[:-1], OTHER)), "H section"),
    "A point": (lambda k: replace(k, a=(OTHER, *k.a[1:])), "A differs"),
    "IC point": (lambda k: replace(k, ic=(OTHER, *k.ic[1:])), "IC differs"),
    "B1 point": (lambda k: replace(k, b1=(*k.b1[:-1], OTHER)), "B1 differs"),
    "B2 point": (_other_b2, "B2 differs"),
    "B2 dropped": (lambda k: replace(k, b2=k.b2[:-1]), "B2 size differs"),
    "alpha": (lambda k: replace(k, alpha_g1=OTHER), "alpha_1 differs"),
    "coefficients": (
        lambda k: replace(k, coefficients=k.coefficients[:-1] + b"\x01"),
        "coefficients differs",
    ),
    "reordered": (_swap_contributions, "transcript hash does not follow"),
    "last delta": (lambda k: _last(k, delta_after=OTHER), "does not follow from the previous"),
    "gamma = delta": (lambda k: replace(k, delta_g2=G2), "gamma equals delta"),
    "delta_2": (lambda k: replace(k, delta_g2=g2_mul(G2, 5)), "delta_1 and delta_2 differ"),
    "no contribution": (lambda k: replace(k, contributions=(), delta_g1=G1), "no contribution"),
    "beacon not from its value": (
        lambda k: _last(k, beacon_hash=bytes(32)),
        "not the one its beacon gives",
    ),
}


@pytest.mark.parametrize("cached", [True, False], ids=["initial given", "recomputed"])
@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_a_tampered_key_is_refused_with_the_reason(
    final: ZKey, circuit: R1CS, ptau: PowersOfTau, initial: ZKey, name: str, cached: bool
) -> None:
    """Every break is found both against a cached initial key (B2 compared point by
    point) and against the verifier's own recomputation (B2 checked against B1 by a
    random linear combination)."""
    tamper, message = TAMPERS[name]
    with pytest.raises(Phase2CheckError, match=message):
        verify_zkey(tamper(final), circuit, ptau, seed=SEED, initial=initial if cached else None)


def test_a_key_from_another_phase_1_is_refused(final: ZKey, circuit: R1CS) -> None:
    other = PowersOfTau(new_powers_of_tau(POWER, Phase1Secret.from_entropy(bytes(32))))
    with pytest.raises(Phase2CheckError, match="phase-1 file other than"):
        verify_zkey(final, circuit, other, seed=SEED)


def test_a_key_for_another_circuit_is_refused(final: ZKey, ptau: PowersOfTau) -> None:
    with pytest.raises(Phase2CheckError, match="not this circuit's key"):
        verify_zkey(final, product_sum(2), ptau, seed=SEED)


def test_setup_refuses_a_phase_1_too_small_or_unprepared(ptau: PowersOfTau) -> None:
    with pytest.raises(LocalProtocolError, match="power 5 or more"):
        initial_zkey(product_sum(12), ptau)
    with pytest.raises(LocalProtocolError, match="beacon iterations exponent"):
        beacon(initial_zkey(product_sum(2), ptau), BEACON_VALUE, 9)


def test_malformed_zkeys_are_refused_with_the_reason(final: ZKey) -> None:
    data = zkey_to_bytes(final)
    cases = {
        "magic": (b"ptau" + data[4:], "bad magic"),
        "truncated": (data[:-3], "runs past the end|truncated"),
        "trailing": (data + b"\0", "trailing bytes"),
    }
    for name, (bad, message) in cases.items():
        with pytest.raises(ZKeyFormatError, match=message):
            zkey_from_bytes(bad)
        assert name
