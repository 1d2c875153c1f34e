"""Models from an on-chain phase-2 ceremony: the registrant's flow and the fetcher's checks.

Each attack is a registrant (alice) who finalizes a key that is not the recorded ceremony's
final key; bob, fetching the model, must refuse it with the reason and keep nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from eth_account.signers.local import LocalAccount

from node.artifacts import R1CS_FILE, CircuitDir
from node.ceremony_cli import record_ceremony
from node.engine.models import ceremony
from node.engine.models.files import compile_into, file_sha256, spec_of
from node.engine.models.role import ModelUnavailable
from protocol.bn254.curve import g1_double
from protocol.groth16.ptau import Phase1Secret, new_powers_of_tau
from protocol.groth16.zkey import ZKey, zkey_from_bytes
from tests.node.chain.fake_chain import ZERO, FakeLedger
from tests.node.engine.test_models import (
    ALICE,
    ALICE_PEER,
    BOB,
    hear,
    net,
    node,
    registration,
)
from tests.protocol.zkml.models import gemm

pytestmark = pytest.mark.slow

POWER = 9  # the one-op Gemm circuit (a 2^9 domain)


@pytest.fixture(scope="module")
def circuit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The compiled Gemm circuit (no key yet), its ONNX file and a phase 1 (and another)."""
    where = tmp_path_factory.mktemp("gemm")
    onnx = where / "gemm.onnx"
    onnx.write_bytes(gemm()[0])
    compile_into(where / "circuit", onnx, None)
    for name in ("pot.ptau", "other.ptau"):
        secret = Phase1Secret.from_entropy(os.urandom(64))
        (where / name).write_bytes(new_powers_of_tau(POWER, secret))
    return where / "circuit", onnx, where / "pot.ptau"


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


async def keep_mining(ledger: FakeLedger) -> None:
    """The fake chain's clock and blocks, as a live chain's: a block a second (fast)."""
    while True:
        await trio.sleep(0.05)
        ledger.advance(1)
        ledger.mine(ZERO, "empty block", ())


async def test_a_registration_runs_its_ceremony_and_a_fetcher_verifies_it(
    tmp_path: Path, ledger: FakeLedger, circuit: tuple[Path, Path, Path]
) -> None:
    _, onnx, ptau = circuit
    alice = node(tmp_path, "alice", ledger, bytes(ALICE.key), ALICE.address)
    body = {"onnx": str(onnx), "name": "gemm", "ptau": str(ptau), "contribution_window": 5}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(keep_mining, ledger)
        events = await registration(alice, body)
        nursery.cancel_scope.cancel()
    steps = [e.get("step", e["stage"]) for e in events]
    assert steps == ["compiling", "initial key", "opened", "fetching", "contributing",
                     "contributed", "waiting", "verifying", "chosen", "registering",
                     "announcing", "done"], steps  # fmt: skip
    chosen = next(e for e in events if e.get("step") == "chosen")
    assert (chosen["included"], chosen["recorded"], chosen["left_out"]) == (1, 1, [])
    record = ledger.ceremonies[1]
    model = ledger.models[1]
    folder = alice.layout.model_dir(1)
    assert (record.contributions, record.model_id, record.coordinator) == (1, 1, ALICE.address)
    assert record.phase1_sha256 == file_sha256(ptau)
    assert record.circuit_hash == model.circuit_hash == file_sha256(folder / R1CS_FILE)
    assert (model.ceremony_id, model.final_key_sha256) == (1, file_sha256(folder / "ceremony.zkey"))
    key = zkey_from_bytes((folder / "ceremony.zkey").read_bytes())
    assert [c.name for c in key.contributions] == ["registrant", "beacon"]
    assert key.contributions[-1].beacon_hash == model.beacon
    mine = alice.store.get_model(1)
    assert mine is not None
    assert (mine.ceremony_id, mine.transcript, mine.name) == (1, (ALICE.address,), "gemm")
    assert sorted(p.name for p in alice.layout.models.iterdir()) == ["1"]  # nothing left over
    assert next(e for e in events if e["stage"] == "done")["model"]["ceremony"] == {
        "id": 1, "verified": True, "contributors": [ALICE.address]
    }  # fmt: skip

    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    net(bob).serve_dir(ALICE_PEER, folder)
    await hear(bob, 1, spec_of(folder), folder, ALICE_PEER)
    fetched = await bob.ensure_model(1)
    theirs = bob.store.get_model(1)
    assert theirs is not None
    assert theirs.transcript == (ALICE.address,)
    assert file_sha256(fetched / "ceremony.zkey") == model.final_key_sha256
    assert net(bob).penalties == []


Tamper = Callable[[Path], None]


def finalized_by_hand(
    ledger: FakeLedger,
    circuit: Path,
    ptau: Path,
    where: Path,
    *,
    unrecorded: int = 0,
    prefix: bool = False,
    included: int | None = None,
    beacon: bytes | None = None,
    before_beacon: Tamper | None = None,
    after_beacon: Tamper | None = None,
) -> Path:
    """Alice's ceremony, run contract call by contract call, with a deviation: contributions
    made but not recorded, a beacon of her choosing, a file edited before finalizing, or a
    final key on fewer contributions than ``included`` says. With ``prefix`` the final key
    leaves carol's (recorded) contribution out, as a coordinator may."""
    folder = where / "model"
    shutil.copytree(circuit, folder)
    phase1, initial = ceremony.start(folder, ptau)
    alice, carol = ledger.chain(ALICE.address), ledger.chain(BOB.address)
    cid, _ = alice.open_ceremony(file_sha256(folder / R1CS_FILE), phase1, initial, 60, "m")
    for who, name in ((alice, "alice"), (carol, "carol")):
        made = ceremony.contribute(folder, name)
        who.contribute(cid, made.predecessor_sha256, made.key_sha256, made.contribution_hash)
        if name == "alice":
            alices = CircuitDir.open(folder).read_checked("zkey")
    if prefix:
        record_ceremony(CircuitDir.open(folder), zkey_from_bytes(alices))
    for i in range(unrecorded):
        ceremony.contribute(folder, f"kept secret {i}")
    ledger.advance(61)
    alice.close_ceremony(cid)
    for _ in range(2):
        ledger.mine(ZERO, "empty block", ())
    if before_beacon is not None:
        before_beacon(folder)
    final = ceremony.finalize_key(folder, beacon or alice.beacon_of(cid))
    if after_beacon is not None:
        after_beacon(folder)
        final = file_sha256(folder / "ceremony.zkey")
    spec = spec_of(folder)
    count = (1 if prefix else 2) if included is None else included
    alice.finalize_ceremony(cid, count, final, spec)
    return folder


def _rewrite_zkey(folder: Path, change: Callable[[ZKey], ZKey]) -> None:
    cdir = CircuitDir.open(folder)
    record_ceremony(cdir, change(zkey_from_bytes(cdir.read_checked("zkey"))))


def _swap_phase1(other: Path) -> Tamper:
    def swap(folder: Path) -> None:
        shutil.copyfile(other, folder / "phase1.ptau")
        cdir = CircuitDir.open(folder)
        data = (folder / "phase1.ptau").read_bytes()
        cdir.manifest["files"]["phase1"] |= {"sha256": hashlib.sha256(data).hexdigest()}
        cdir.save()

    return swap


def _alter_point(folder: Path) -> None:
    """Double one H point of the final key: a key no honest contribution produces."""

    def change(key: ZKey) -> ZKey:
        return dataclasses.replace(key, h=(g1_double(key.h[0]), *key.h[1:]))

    _rewrite_zkey(folder, change)


def _reorder(folder: Path) -> None:
    def change(key: ZKey) -> ZKey:
        first, second, *rest = key.contributions
        return dataclasses.replace(key, contributions=(second, first, *rest))

    _rewrite_zkey(folder, change)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unrecorded contribution", "not the 2 recorded on-chain in order"),
        ("chosen beacon", "not derived from the on-chain beacon"),
        ("altered point", "the H section is not the initial one divided by delta"),
        ("reordered", "not the 2 recorded on-chain in order"),
        ("other phase 1", "not the one the ceremony was opened on"),
        ("fewer included than built on", "not the 1 recorded on-chain in order"),
        ("more included than built on", "not the 2 recorded on-chain in order"),
    ],
)
async def test_a_final_key_that_is_not_the_recorded_ceremony_s_is_refused(
    tmp_path: Path, ledger: FakeLedger, circuit: tuple[Path, Path, Path], case: str, reason: str
) -> None:
    compiled, _, ptau = circuit
    deviation: dict[str, Any] = {
        "unrecorded contribution": {"unrecorded": 1},
        "chosen beacon": {"beacon": b"\x42" * 32},
        "altered point": {"after_beacon": _alter_point},
        "reordered": {"after_beacon": _reorder},
        "other phase 1": {"after_beacon": _swap_phase1(ptau.parent / "other.ptau")},
        "fewer included than built on": {"included": 1},
        "more included than built on": {"prefix": True, "included": 2},
    }[case]
    folder = finalized_by_hand(ledger, compiled, ptau, tmp_path, **deviation)
    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    net(bob).serve_dir(ALICE_PEER, folder)
    await hear(bob, 1, spec_of(folder), folder, ALICE_PEER)
    with pytest.raises(ModelUnavailable, match=reason):
        await bob.ensure_model(1)
    assert not bob.layout.model_dir(1).exists()
    assert list(bob.layout.models.iterdir()) == []
    assert net(bob).penalties == [ALICE_PEER]


@pytest.mark.parametrize(
    ("prefix", "contributors"),
    [(False, (ALICE.address, BOB.address)), (True, (ALICE.address,))],
    ids=["all contributions", "carol's left out"],
)
async def test_an_honest_hand_run_ceremony_verifies(
    tmp_path: Path,
    ledger: FakeLedger,
    circuit: tuple[Path, Path, Path],
    prefix: bool,
    contributors: tuple[str, ...],
) -> None:
    """The control for the attacks above: the same steps without a deviation pass, and so
    does a final key that leaves out carol's last contribution (a coordinator that could not
    fetch or verify it); fetchers list only the contributors the final key includes."""
    compiled, _, ptau = circuit
    folder = finalized_by_hand(ledger, compiled, ptau, tmp_path, prefix=prefix)
    assert await transcript_fetched(tmp_path, ledger, folder) == contributors


async def transcript_fetched(
    tmp_path: Path, ledger: FakeLedger, folder: Path, account: LocalAccount = BOB
) -> tuple[str, ...] | None:
    """The contributors a fresh node verified when it fetched model 1 from ``folder``."""
    fetcher = node(tmp_path, "fetcher", ledger, bytes(account.key), account.address)
    net(fetcher).serve_dir(ALICE_PEER, folder)
    await hear(fetcher, 1, spec_of(folder), folder, ALICE_PEER)
    await fetcher.ensure_model(1)
    record = fetcher.store.get_model(1)
    assert record is not None
    return record.transcript
