"""The model role on the fake chain (tests/node/chain/fake_chain.py) with a fake network.

alice owns the digits MLP; bob learns it from her announcement and fetches it.
``FakeNetwork`` serves each peer's blobs from a dict and, like the p2p layer,
refuses bytes whose sha256 is not the one asked for. The circuit directory is
built once per module (compile and setup take a few seconds).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import trio
import trio.testing
from libp2p.peer.id import ID

from node.api.errors import BadRequest
from node.chain.interface import Chain
from node.chain.types import ModelSpec
from node.engine import ChainBatch, Engine, IntentExecutor
from node.engine.models import ModelRole, ModelUnavailable
from node.engine.models import role as model_role
from node.engine.models.files import (
    BuiltModel,
    artifact_refs,
    blob_index,
    compile_into,
    file_sha256,
    setup_into,
    spec_of,
)
from node.engine.models.records import write_name
from node.home import create_home
from node.keys import dev_account
from node.p2p.errors import HashMismatch, Refused
from node.p2p.gossip import MODELS_TOPIC, GossipMessage
from node.store import IntentStatus, Store
from protocol.groth16 import snarkjs
from protocol.groth16.calldata import vk_to_evm_words, words_to_bytes
from protocol.messages import (
    Envelope,
    ModelAnnouncement,
    decode_as,
    encode,
    seal,
    validate_envelope,
)
from protocol.messages.envelope import ReplayGuard
from tests.node.chain import fake_chain
from tests.node.chain.fake_chain import FakeLedger, revert
from tests.node.engine.test_engine import CONTRACTS

ROOT = Path(__file__).resolve().parents[3]
ONNX = ROOT / "devnet" / "models" / "digits_mlp.onnx"
SAMPLES = ROOT / "devnet" / "models" / "digits_mlp_calibration.npy"
ALICE, BOB = dev_account(1), dev_account(2)
ALICE_PEER, MALLORY_PEER = ID(b"alice-peer"), ID(b"mallory-peer")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltModel:
    out = tmp_path_factory.mktemp("digits") / "circuit"
    compile_into(out, ONNX, SAMPLES)
    return setup_into(out)


class FakeNetwork:
    """Blobs per peer, what was published, and who was penalised."""

    def __init__(self) -> None:
        self.blobs: dict[ID, Callable[[bytes], bytes | None]] = {}
        self.published: list[tuple[str, bytes]] = []
        self.penalties: list[ID] = []

    async def publish(self, topic: str, data: bytes) -> None:
        self.published.append((topic, data))

    async def fetch_blob_to_file(
        self, peer: ID, sha256: bytes, path: Path, *, max_bytes: int | None = None
    ) -> int:
        data = self.blobs[peer](sha256)
        if data is None:
            raise Refused(2, "no such blob")
        if hashlib.sha256(data).digest() != sha256:
            self.penalise(peer, 60.0)  # as P2PService does for a PeerFault
            raise HashMismatch(f"{peer} sent other bytes")
        await trio.Path(path).write_bytes(data)
        return len(data)

    def connected_peers(self) -> list[ID]:
        return list(self.blobs)

    def penalise(self, peer: ID, points: float) -> None:
        self.penalties.append(peer)

    def serve_dir(self, peer: ID, folder: Path) -> None:
        index = blob_index(folder)
        self.blobs[peer] = lambda sha: index[sha].read_bytes() if sha in index else None


class NoLookup:
    def receipt_of(self, tx_hash: str) -> None:
        return None

    def status_of(self, sender: str, tx_hash: str, nonce: int) -> Any:
        raise AssertionError("nothing is reconciled in these tests")


class Node(ModelRole):
    """A model role with the engine it is registered on."""

    engine: Engine


def node(
    tmp_path: Path,
    name: str,
    ledger: FakeLedger,
    key: bytes,
    address: str,
    account: fake_chain.FakeChain | None = None,
) -> Node:
    """A model role of ``address`` on ``ledger`` (through ``account`` when given)."""
    home = create_home(tmp_path / name).root
    chain = cast(Chain, account or ledger.chain(address))
    store = Store.open(home / "node.db", chain_id=ledger.chain_id, contracts=CONTRACTS)
    role = Node(chain, home, key)
    role.engine = Engine(store, IntentExecutor(store, chain, NoLookup()), tick_s=1.0)
    role.register(role.engine)
    role.attach(FakeNetwork())
    return role


def net(role: ModelRole) -> FakeNetwork:
    assert isinstance(role.network, FakeNetwork)
    return role.network


def gossip(announcement: ModelAnnouncement, origin: ID, chain_id: int = 31337) -> GossipMessage:
    envelope = seal(
        bytes(ALICE.key), chain_id, announcement, timestamp=10**9, lifetime_s=60, nonce=1
    )
    data = encode(envelope)
    verified = validate_envelope(envelope, chain_id=chain_id, now=10**9, replay=ReplayGuard())
    return GossipMessage(MODELS_TOPIC, verified, data, origin, origin)


def announcement(model_id: int, spec: ModelSpec, folder: Path) -> ModelAnnouncement:
    return ModelAnnouncement(
        model_id, "digits", spec.onnx_sha256, spec.circuit_hash, spec.manifest_hash,
        artifact_refs(folder), bytes.fromhex(ALICE.address[2:]),
    )  # fmt: skip


async def hear(bob: Node, model_id: int, spec: ModelSpec, folder: Path, peer: ID) -> None:
    engine = bob.engine
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        await engine.inputs.send(gossip(announcement(model_id, spec, folder), peer))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


async def test_register_compiles_registers_stores_serves_and_announces(
    tmp_path: Path, ledger: FakeLedger, built: BuiltModel
) -> None:
    alice = node(tmp_path, "alice", ledger, bytes(ALICE.key), ALICE.address)
    body = {"onnx": str(ONNX), "name": "digits", "calibration": str(SAMPLES)}
    events = await registration(alice, body)
    stages = [e["stage"] for e in events]
    assert stages == ["compiling", "setup", "registering", "announcing", "done"], events
    folder = alice.layout.model_dir(1)
    cdir_manifest = json.loads((folder / "manifest.json").read_bytes())
    registered = ledger.models[1]
    assert registered.owner == ALICE.address
    assert registered.onnx_sha256 == hashlib.sha256(ONNX.read_bytes()).digest()
    assert registered.circuit_hash == file_sha256(folder / "circuit.r1cs")
    assert registered.manifest_hash == file_sha256(folder / "manifest.json")
    assert (
        registered.constraint_count == cdir_manifest["constraints"] == built.spec.constraint_count
    )
    vk = snarkjs.vk_from_json(json.loads((folder / "verification_key.json").read_bytes()))
    assert ledger.keys[1] == words_to_bytes(vk_to_evm_words(vk))
    record = alice.store.get_model(1)
    assert record is not None
    assert (record.name, record.circuit_dir) == ("digits", str(folder))
    assert [p.name for p in alice.layout.models.iterdir()] == ["1"]  # no build or pending left
    [(topic, data)] = net(alice).published
    ann = decode_as(decode_as(data, Envelope, Envelope.MAX_SIZE).payload, ModelAnnouncement, 4096)
    assert (topic, ann.model_id, ann.name) == (MODELS_TOPIC, 1, "digits")
    assert ann.manifest_hash == registered.manifest_hash
    assert {a.name for a in ann.artifacts} == {p.name for p in folder.iterdir()}
    for ref in ann.artifacts:
        assert alice.lookup_blob(ref.sha256) == folder / ref.name
    assert alice.lookup_blob(b"\x00" * 32) is None


async def test_a_registration_of_a_missing_file_is_refused(
    tmp_path: Path, ledger: FakeLedger
) -> None:
    alice = node(tmp_path, "alice", ledger, bytes(ALICE.key), ALICE.address)
    engine = alice.engine
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        refused = [
            {"onnx": str(tmp_path / "none.onnx"), "name": "x"},  # no such file
            {"onnx": "relative.onnx", "name": "x"},  # the daemon cannot resolve it
            {"onnx": str(ONNX), "name": "123"},  # would read as a model id
        ]
        for body in refused:
            with pytest.raises(BadRequest):
                await engine.call("model.register", body)
        for reveal in ("argmin", 3, "threshold:x:1"):
            with pytest.raises(BadRequest, match=r"reveal .* is not understood"):
                await engine.call("model.register", {"onnx": str(ONNX), "name": "m",
                                                     "reveal": reveal})  # fmt: skip
        nursery.cancel_scope.cancel()


async def registration(role: Node, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``model.register`` on ``role``'s engine; every progress event until it ends."""
    events: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(role.engine.run)
        rid = (await role.engine.call("model.register", body))["registration"]
        page: dict[str, Any] = {"closed": False, "next": 0}
        while not page["closed"]:
            query = {"id": rid, "after": page["next"], "timeout": 60}
            page = await role.engine.call("model.registration", query)
            events += [e["event"] for e in page["events"]]
        nursery.cancel_scope.cancel()
    return events


def register(ledger: FakeLedger, spec: ModelSpec) -> int:
    model_id, _ = ledger.chain(ALICE.address).register_model(spec)
    return model_id


@pytest.mark.parametrize("event_first", [True, False])
async def test_models_registered_by_others_are_known_but_not_held(
    tmp_path: Path, ledger: FakeLedger, built: BuiltModel, event_first: bool
) -> None:
    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    register(ledger, built.spec)
    engine = bob.engine
    batch = ChainBatch(ledger.chain(BOB.address).events_since(0))
    heard = gossip(announcement(1, built.spec, built.path), ALICE_PEER)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        for item in (batch, heard) if event_first else (heard, batch):
            await engine.inputs.send(item)
            await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert batch.applied.is_set()
    record = bob.store.get_model(1)
    assert record is not None
    assert (record.owner, record.circuit_dir) == (ALICE.address, None)
    assert record.manifest_hash == built.spec.manifest_hash
    assert record.name == "digits"  # named by its owner's announcement
    assert ALICE_PEER in bob.heard[1]


async def test_ensure_model_fetches_checks_and_serves_the_copy(
    tmp_path: Path, ledger: FakeLedger, built: BuiltModel
) -> None:
    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    model_id = register(ledger, built.spec)
    net(bob).blobs[MALLORY_PEER] = lambda sha: b"not the model"  # wrong bytes for every hash
    net(bob).serve_dir(ALICE_PEER, built.path)
    await hear(bob, model_id, built.spec, built.path, MALLORY_PEER)
    await hear(bob, model_id, built.spec, built.path, ALICE_PEER)
    folder = await bob.ensure_model(model_id)
    assert folder == bob.layout.model_dir(model_id)
    for original in built.path.iterdir():
        assert file_sha256(folder / original.name) == file_sha256(original)
    record = bob.store.get_model(model_id)
    assert record is not None
    assert record.circuit_dir == str(folder)
    assert net(bob).penalties == [MALLORY_PEER]
    assert bob.lookup_blob(built.spec.manifest_hash) == folder / "manifest.json"
    assert await bob.ensure_model(model_id) == folder  # held now: nothing fetched again


def tampered_copy(built: BuiltModel, where: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    copy = where / "tampered"
    shutil.copytree(built.path, copy)
    manifest = json.loads((copy / "manifest.json").read_bytes())
    edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def degenerate_copy(built: BuiltModel, where: Path) -> Path:
    """The built model with delta set to gamma in its verification key, and a manifest
    that lists the changed file: consistent in itself, registrable as is."""
    copy = where / "degenerate"
    shutil.copytree(built.path, copy)
    vk_file = copy / "verification_key.json"
    vk = json.loads(vk_file.read_bytes())
    vk["vk_delta_2"] = vk["vk_gamma_2"]
    vk_file.write_text(json.dumps(vk))
    manifest = json.loads((copy / "manifest.json").read_bytes())
    entry = manifest["files"]["verification_key"]
    entry.update(
        sha256=hashlib.sha256(vk_file.read_bytes()).hexdigest(), size=vk_file.stat().st_size
    )
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def other_key(spec: ModelSpec) -> bytes:
    return (1).to_bytes(32, "big") + spec.verifying_key[32:]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered manifest", "registered manifest hash"),
        ("onnx hash", "ONNX sha256 differs from the registry"),
        ("key", "verification key is not the one registered"),
        ("degenerate key", "degenerate .gamma equals delta.: anyone could forge"),
        ("constraint count", "the R1CS has [0-9]+ constraints; the registry says"),
    ],
)
async def test_ensure_model_refuses_artifacts_that_disagree_with_the_registry(
    tmp_path: Path,
    ledger: FakeLedger,
    built: BuiltModel,
    case: str,
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    served, spec = built.path, built.spec
    if case == "tampered manifest":  # served with honest hashes, but not what was registered
        served = tampered_copy(built, tmp_path, lambda m: m.update(constraints=1))
    elif case == "degenerate key":  # an older registry, or a chain that took it
        served = degenerate_copy(built, tmp_path)
        spec = spec_of(served)
        monkeypatch.setattr(fake_chain, "_refuse_degenerate", lambda key, n_public: None)
    elif case == "onnx hash":
        spec = dataclasses.replace(spec, onnx_sha256=hashlib.sha256(b"another model").digest())
    elif case == "constraint count":  # a registrant declaring half the work, consistently
        half = spec.constraint_count // 2
        served = tampered_copy(built, tmp_path, lambda m: m.update(constraints=half))
        spec = spec_of(served)
        assert spec.constraint_count == half
    else:
        spec = dataclasses.replace(spec, verifying_key=other_key(spec))
    model_id = register(ledger, spec)
    net(bob).serve_dir(ALICE_PEER, served)
    claimed = ModelSpec(
        spec.onnx_sha256, spec.circuit_hash, spec.manifest_hash, 0, 0, b""
    )  # the announcement repeats the registry's hashes
    engine = bob.engine
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        await engine.inputs.send(gossip(announcement(model_id, claimed, served), ALICE_PEER))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    with pytest.raises(ModelUnavailable, match=reason):
        await bob.ensure_model(model_id)
    assert not bob.layout.model_dir(model_id).exists()
    assert list(bob.layout.models.iterdir()) == []  # the temporary folder is gone
    assert net(bob).penalties == [ALICE_PEER]
    record = bob.store.get_model(model_id)
    assert record is None or record.circuit_dir is None


async def test_a_model_served_too_slowly_is_given_up_within_its_budget(
    tmp_path: Path, ledger: FakeLedger, built: BuiltModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mallory trickles the proving key: the fetch gives up after the budget the registered
    manifest's size allows, and alice's copy is fetched instead."""
    monkeypatch.setattr(model_role, "FETCH_BASE_S", 0.5)
    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    model_id = register(ledger, built.spec)
    network = net(bob)
    network.serve_dir(MALLORY_PEER, built.path)
    network.serve_dir(ALICE_PEER, built.path)
    slow_key = file_sha256(built.path / "proving_key.bin")
    honest = network.fetch_blob_to_file

    async def trickle(peer: ID, sha256: bytes, path: Path, *, max_bytes: int | None = None) -> int:
        if peer == MALLORY_PEER and sha256 == slow_key:
            await trio.sleep(3600)
        return await honest(peer, sha256, path, max_bytes=max_bytes)

    network.fetch_blob_to_file = trickle  # type: ignore[method-assign]
    await hear(bob, model_id, built.spec, built.path, MALLORY_PEER)
    await hear(bob, model_id, built.spec, built.path, ALICE_PEER)
    with trio.fail_after(30):
        folder = await bob.ensure_model(model_id)
    assert file_sha256(folder / "proving_key.bin") == slow_key


async def test_ensure_model_without_an_announcement_says_so(
    tmp_path: Path, ledger: FakeLedger, built: BuiltModel
) -> None:
    bob = node(tmp_path, "bob", ledger, bytes(BOB.key), BOB.address)
    model_id = register(ledger, built.spec)
    with pytest.raises(ModelUnavailable, match="no peer has announced it"):
        await bob.ensure_model(model_id)


async def test_a_registration_that_landed_before_a_crash_is_adopted_from_its_event(
    tmp_path: Path, ledger: FakeLedger, built: BuiltModel
) -> None:
    alice = node(tmp_path, "alice", ledger, bytes(ALICE.key), ALICE.address)
    pending = alice.layout.models / f".pending-{built.spec.manifest_hash.hex()}"
    shutil.copytree(built.path, pending)
    write_name(pending, "digits")
    model_id = register(ledger, built.spec)  # it landed; the node died before recording it
    batch = ChainBatch(ledger.chain(ALICE.address).events_since(0))
    async with trio.open_nursery() as nursery:
        await nursery.start(alice.engine.run)
        await alice.engine.inputs.send(batch)
        await batch.applied.wait()
        nursery.cancel_scope.cancel()
    record = alice.store.get_model(model_id)
    assert record is not None
    assert (record.name, record.circuit_dir) == ("digits", str(alice.layout.model_dir(model_id)))
    assert [p.name for p in alice.layout.models.iterdir()] == [str(model_id)]
    assert alice.lookup_blob(built.spec.manifest_hash) is not None


async def test_a_model_that_does_not_compile_fails_its_registration(
    tmp_path: Path, ledger: FakeLedger
) -> None:
    alice = node(tmp_path, "alice", ledger, bytes(ALICE.key), ALICE.address)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not an ONNX file")
    events = await registration(alice, {"onnx": str(garbage), "name": "garbage"})
    assert events[-1]["stage"] == "failed"
    assert events[-1]["code"] == "unsupported_model", events
    assert ledger.models == {}
    assert list(alice.layout.models.iterdir()) == []


async def test_a_refused_registration_leaves_no_keys_behind(
    tmp_path: Path, ledger: FakeLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = node(tmp_path, "alice", ledger, bytes(ALICE.key), ALICE.address)

    def refuse(spec: ModelSpec) -> Any:
        raise revert("BadPublicSignalCount", nPublic=spec.n_public)

    monkeypatch.setattr(alice.chain, "register_model", refuse)
    events = await registration(alice, {"onnx": str(ONNX), "name": "digits"})
    assert [e["stage"] for e in events] == ["compiling", "setup", "registering", "failed"]
    assert "BadPublicSignalCount" in events[-1]["error"]
    [intent] = [alice.store.get_intent(1)]
    assert (intent.kind, intent.status) == ("register_model", IntentStatus.FAILED)
    assert list(alice.layout.models.iterdir()) == []
    assert alice.store.list_models() == []
