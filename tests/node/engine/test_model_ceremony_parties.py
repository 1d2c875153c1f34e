"""A ceremony with several parties: contributions from other nodes, races, withheld keys.

alice registers the Gemm model with a ceremony; bob and carol, each connected only to
alice, contribute while the window is open (carol's first try loses the race to bob and
is made again on bob's key, which she fetches from alice's mirror); dave records a key
nobody can fetch. alice finalizes on alice, bob and carol and leaves dave out; a fetcher
verifies exactly those three.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from libp2p.peer.id import ID

from node.engine.core import ChainBatch
from node.engine.models import ceremonies
from node.engine.models.files import file_sha256
from node.keys import dev_account
from protocol.groth16.zkey import zkey_from_bytes
from tests.node.chain.fake_chain import ZERO, FakeChain, FakeLedger
from tests.node.engine.test_model_ceremony import circuit, transcript_fetched
from tests.node.engine.test_models import ALICE, ALICE_PEER, BOB, Node, net, node

__all__ = ["circuit"]  # the module's fixture, shared

pytestmark = pytest.mark.slow

CAROL, DAVE, ERIN = dev_account(3), dev_account(4), dev_account(5)
BOB_PEER, CAROL_PEER = ID(b"bob-peer"), ID(b"carol-peer")
WINDOW_S = 1000


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


class HeldBack(FakeChain):
    """carol's account: her first contribution waits until ``release`` is set, so that
    bob's lands first."""

    def __init__(self, ledger: FakeLedger, address: str) -> None:
        super().__init__(ledger, address)
        self.release = threading.Event()
        self.sending = trio.Event()
        self.tries = 0

    def contribute(
        self, ceremony_id: int, predecessor: bytes, key_sha256: bytes, contribution_hash: bytes
    ) -> Any:
        self.tries += 1
        if self.tries == 1:
            trio.from_thread.run_sync(self.sending.set)
            assert self.release.wait(60), "bob's contribution never landed"
        return super().contribute(ceremony_id, predecessor, key_sha256, contribution_hash)


def served_by(role: Node) -> Callable[[bytes], bytes | None]:
    def serve(sha256: bytes) -> bytes | None:
        path = role.lookup_blob(sha256)
        return None if path is None else path.read_bytes()

    return serve


def connect(a: Node, a_peer: ID, b: Node, b_peer: ID) -> None:
    net(a).blobs[b_peer] = served_by(b)
    net(b).blobs[a_peer] = served_by(a)


async def follow(role: Node) -> None:
    """Feed ``role``'s engine the chain's events, as the chain sync task does."""
    cursor = 0
    while True:
        batch = ChainBatch(role.chain.events_since(cursor))  # type: ignore[attr-defined]
        await role.engine.inputs.send(batch)
        await batch.applied.wait()
        cursor = batch.batch.next_block
        await trio.sleep(0.05)


async def mine(ledger: FakeLedger) -> None:
    """Blocks keep coming (the beacon is a later block's hash); the clock stands still
    until the test moves it."""
    while True:
        await trio.sleep(0.05)
        ledger.mine(ZERO, "empty block", ())


async def events_of(role: Node, command: str, rid: int, until: str | None = None) -> list[Any]:
    """Task ``rid``'s events until it ends, or until one at stage or step ``until``."""
    events: list[dict[str, Any]] = []
    page: dict[str, Any] = {"closed": False, "next": 0}
    while not page["closed"]:
        page = await role.engine.call(command, {"id": rid, "after": page["next"], "timeout": 60})
        events += [e["event"] for e in page["events"]]
        if until is not None and any(until in (e["stage"], e.get("step")) for e in events):
            break
    return events


async def contribution(role: Node, cid: int, name: str) -> list[dict[str, Any]]:
    rid = await role.engine.call("model.contribute", {"ceremony": cid, "name": name})
    return await events_of(role, "model.contribution", rid["contribution"])


async def test_contributions_from_other_nodes_are_included_and_a_withheld_one_is_left_out(
    tmp_path: Path, ledger: FakeLedger, circuit: tuple[Path, Path, Path]
) -> None:
    _, onnx, ptau = circuit
    alice = node(tmp_path, "alice", ledger, bytes(ALICE.key), ALICE.address)
    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    held_back = HeldBack(ledger, CAROL.address)
    carol = node(tmp_path, "carol", ledger, bytes(CAROL.key), CAROL.address, held_back)
    connect(alice, ALICE_PEER, bob, BOB_PEER)
    connect(alice, ALICE_PEER, carol, CAROL_PEER)  # carol and bob are not connected
    body = {"onnx": str(onnx), "name": "gemm", "ptau": str(ptau), "contribution_window": WINDOW_S}
    done: dict[str, list[dict[str, Any]]] = {}
    carol_done = trio.Event()

    async def run_carol() -> None:
        done["carol"] = await contribution(carol, 1, "carol")
        carol_done.set()

    async with trio.open_nursery() as nursery:
        for role in (alice, bob, carol):
            await nursery.start(role.engine.run)
            nursery.start_soon(follow, role)
        nursery.start_soon(mine, ledger)
        rid = (await alice.engine.call("model.register", body))["registration"]
        await events_of(alice, "model.registration", rid, until="waiting")
        nursery.start_soon(run_carol)
        with trio.fail_after(60):  # carol built on alice's key and is sending
            await held_back.sending.wait()
        done["bob"] = await contribution(bob, 1, "bob")
        held_back.release.set()
        with trio.fail_after(60):
            await carol_done.wait()
        withheld = os.urandom(32)
        ledger.chain(DAVE.address).contribute(
            1, ledger.ceremonies[1].latest_key_sha256, withheld, os.urandom(64)
        )
        ledger.advance_to(ledger.ceremonies[1].contribution_deadline + 1)
        registered = await events_of(alice, "model.registration", rid)
        with trio.fail_after(10):  # the final key needs none of the ceremony's keys
            while any((r.ceremony_keys.root / "1").exists() for r in (alice, bob, carol)):  # noqa: ASYNC110 (files, removed on a chain event)
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()

    assert done["bob"][-1]["stage"] == "done", done["bob"]
    assert done["bob"][-1]["index"] == 2
    carol_stages = [e["stage"] for e in done["carol"]]
    assert carol_stages == ["fetching", "contributing", "rebasing", "fetching", "contributing",
                            "done"], done["carol"]  # fmt: skip
    assert done["carol"][-1]["index"] == 3
    chosen = next(e for e in registered if e.get("step") == "chosen")
    assert (chosen["included"], chosen["recorded"]) == (3, 4)
    [why] = chosen["left_out"]
    assert f"contribution 4 by {DAVE.address}" in why
    assert "no peer served" in why
    assert registered[-1]["stage"] == "done", registered[-1]

    record = ledger.ceremonies[1]
    assert (record.contributions, record.included) == (4, 3)
    model = ledger.models[1]
    folder = alice.layout.model_dir(1)
    key = zkey_from_bytes((folder / "ceremony.zkey").read_bytes())
    assert [c.name for c in key.contributions] == ["registrant", "bob", "carol", "beacon"]
    assert file_sha256(folder / "ceremony.zkey") == model.final_key_sha256
    contributors = (ALICE.address, BOB.address, CAROL.address)
    assert registered[-1]["model"]["ceremony"]["contributors"] == list(contributors)
    for other in (bob, carol):  # the name comes from the chain (no gossip in this test)
        known = other.store.get_model(1)
        assert known is not None
        assert known.name == "gemm"

    assert await transcript_fetched(tmp_path, ledger, folder, ERIN) == contributors


async def test_a_contribution_to_a_closed_or_unknown_ceremony_is_refused(
    tmp_path: Path, ledger: FakeLedger
) -> None:
    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    alice = ledger.chain(ALICE.address)
    cid, _ = alice.open_ceremony(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 5, "m")
    ledger.advance(10)
    async with trio.open_nursery() as nursery:
        await nursery.start(bob.engine.run)
        with pytest.raises(Exception, match="the registry has no ceremony 7"):
            await bob.engine.call("model.contribute", {"ceremony": 7})
        for bad in (0, True, "", 1.5):
            with pytest.raises(Exception, match="ceremony must be a ceremony id"):
                await bob.engine.call("model.contribute", {"ceremony": bad})
        with pytest.raises(Exception, match="name must be text of at most"):
            await bob.engine.call("model.contribute", {"ceremony": cid, "name": "x" * 999})
        events = await contribution(bob, cid, "bob")
        nursery.cancel_scope.cancel()
    assert events[-1]["stage"] == "failed"
    assert f"ceremony {cid} takes no more contributions" in events[-1]["error"]
    assert ledger.ceremonies[cid].contributions == 0


async def test_a_ceremony_is_named_by_the_name_it_was_opened_under_only_when_unambiguous(
    tmp_path: Path, ledger: FakeLedger
) -> None:
    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    alice, carol = ledger.chain(ALICE.address), ledger.chain(CAROL.address)
    old, _ = alice.open_ceremony(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 5, "digits-mlp")
    ledger.advance(10)  # old's window is over
    live, _ = alice.open_ceremony(b"\x01" * 32, b"\x02" * 32, b"\x04" * 32, 100, "digits-mlp")

    async def refused(ref: str, message: str) -> None:
        with pytest.raises(Exception, match=message):
            await bob.engine.call("model.contribute", {"ceremony": ref})

    async with trio.open_nursery() as nursery:
        await nursery.start(bob.engine.run)
        nursery.start_soon(follow, bob)
        with trio.fail_after(10):
            while bob.store.get_ceremony(live) is None:  # noqa: ASYNC110 (a chain event lands)
                await trio.sleep(0.05)
        show = await bob.engine.call("model.ceremony", {"ref": "digits-mlp"})
        assert show["name"] == "digits-mlp"
        await refused("nothing-like-it", "no ceremony named 'nothing-like-it' has been opened")
        # One open ceremony has the name: it is the one (the closed namesake is no match).
        started = await bob.engine.call("model.contribute", {"ceremony": "digits-mlp"})
        events = await events_of(bob, "model.contribution", started["contribution"], "fetching")
        assert events[-1]["ceremony_id"] == live, events[-1]  # the key it builds on is live's
        # carol opens another under the same name: the name names nothing until one closes.
        rival, _ = carol.open_ceremony(b"\x05" * 32, b"\x02" * 32, b"\x06" * 32, 100, "digits-mlp")
        with trio.fail_after(10):
            while bob.store.get_ceremony(rival) is None:  # noqa: ASYNC110 (a chain event lands)
                await trio.sleep(0.05)
        await refused("digits-mlp", "2 ceremonies are named 'digits-mlp'; name one by id")
        with pytest.raises(Exception, match=f"{rival} \\(coordinator {CAROL.address}") as info:
            await bob.engine.call("model.ceremony", {"ref": "digits-mlp"})
        assert f"{old} (coordinator {ALICE.address}, window ended" in str(info.value)
        ledger.advance(200)
        await refused("digits-mlp", "no ceremony named 'digits-mlp' takes contributions now")
        nursery.cancel_scope.cancel()


def test_a_mirror_bounds_a_fetched_key_by_the_keys_it_holds(tmp_path: Path) -> None:
    keys = ceremonies.CeremonyKeys(tmp_path / "ceremonies")
    assert keys.size_bound(1) == ceremonies.MAX_KEY_BYTES
    assert not keys.follows(1)
    keys.add(1, b"k" * 1000)
    assert keys.follows(1)
    assert not keys.follows(2)
    assert keys.size_bound(1) == 1000 + ceremonies.KEY_GROWTH_BYTES
    assert keys.size_bound(1, 3) == 1000 + 3 * ceremonies.KEY_GROWTH_BYTES
    again = ceremonies.CeremonyKeys(tmp_path / "ceremonies")  # a restart keeps the index
    assert again.follows(1)
    again.forget(1)
    assert not again.follows(1)
    assert not (tmp_path / "ceremonies" / "1").exists()
