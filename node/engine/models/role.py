"""The model role: register models, serve and announce their artifacts, fetch others'.

What it owns. The circuit directories under ``<home>/models/<model id>`` and the
store's models table; in memory, the sha256 -> file index the p2p layer serves
blobs from, and who announced which model on gossip.

Registering (``model.register``, run as a task; progress in an ``EventLog`` the
CLI long-polls): compile and set up in worker threads into a build folder, move
it to ``models/.pending-<manifest hash>``, register on-chain through the intent
journal, then move it to ``models/<id>``, record it and announce it. The move into
place is idempotent and shared with the ModelRegistered event handler, so a node
that crashed after the registration landed adopts its pending folder when the
event replays. Held models are re-announced every ``announce_interval_s`` and soon
after a new peer connects, so late joiners learn them.

Fetching (``ensure_model``): a model this node lacks is fetched from the peers
that announced it, blob by blob (each checked against its sha256 by the p2p layer,
which penalises a peer sending wrong bytes), into a temporary folder; it is moved
into place only after ``model_files.check_fetched`` accepted it against the
registry entry and the on-chain verifying key.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import trio
from eth_utils.address import to_checksum_address
from libp2p.peer.id import ID

from node.api.errors import BadRequest, Conflict, HttpError, NotFound
from node.api.events import EventLog
from node.artifacts import MANIFEST, R1CS_FILE, CircuitDir
from node.ceremony_cli import ZKEY_FILE, record_ceremony
from node.chain.errors import ContractRevert, TransactionRejected
from node.chain.events import ChainEvent
from node.chain.interface import Chain
from node.chain.types import ModelInfo, ModelSpec
from node.engine.core import Engine, EngineContext
from node.engine.models import ceremonies, ceremony
from node.engine.models.ceremony import check_transcript
from node.engine.models.files import (
    MAX_MANIFEST_BYTES,
    ModelFileError,
    artifact_refs,
    blob_index,
    check_fetched,
    compile_into,
    describe_error,
    file_sha256,
    manifest_files,
    setup_into,
    spec_of,
)
from node.engine.models.records import (
    checked_name,
    held_dir,
    local_file,
    model_by_ref,
    model_json,
    model_record,
    name_file,
    read_name,
    replace_record,
    signer_of,
    spec_json,
    usable_name,
    write_name,
)
from node.engine.repeat import RepeatSchedule
from node.home import HomeLayout
from node.human import moment
from node.p2p.config import DirectMessage
from node.p2p.errors import P2PError
from node.p2p.gossip import MODELS_TOPIC, GossipMessage
from node.p2p.records import sealed_for_gossip
from node.store import CeremonyRecord, ModelRecord, Store
from protocol.errors import RemoteProtocolError
from protocol.groth16.ptau import PowersOfTau
from protocol.groth16.zkey import MAX_NAME_BYTES as MAX_CONTRIBUTION_NAME
from protocol.messages import ArtifactRef, ModelAnnouncement, Verified
from protocol.r1cs import binfmt
from protocol.zkml import CompileError, CompileOptions
from protocol.zkml.model import parse_reveal

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Held models are announced again this often; a gossip message lives ANNOUNCE_LIFETIME_S.
ANNOUNCE_INTERVAL_S = 60.0
ANNOUNCE_LIFETIME_S = 300
# An announced artifact set that fails its checks against the registry is a lie.
BAD_ARTIFACTS_PENALTY = 60.0
# Peers remembered per model as serving it (models are registered: their number costs
# gas); a fetch tries them in turn, so a few dozen is plenty.
MAX_ANNOUNCERS = 32
# A model file's time to arrive: a fixed allowance plus its size at a slow link's rate
# (the size from the registered manifest, never from the peer serving it).
FETCH_BASE_S = 30.0
FETCH_MIN_BYTES_PER_S = 1 << 20


def fetch_budget_s(size: int) -> float:
    """Seconds a file of ``size`` bytes may take to arrive before the fetch gives up."""
    return FETCH_BASE_S + size / FETCH_MIN_BYTES_PER_S


REGISTRATION_PATH = "/models/registrations/{id:int}"


class ModelNetwork(Protocol):
    """What the model role needs from the p2p service."""

    async def publish(self, topic: str, data: bytes) -> None: ...

    async def fetch_blob_to_file(
        self, peer: ID, sha256: bytes, path: Path, *, max_bytes: int | None = None
    ) -> int: ...

    def connected_peers(self) -> list[ID]: ...

    def penalise(self, peer: ID, points: float) -> None: ...


class ModelUnavailable(Exception):  # noqa: N818 (reads as the situation it reports)
    """No peer supplied a model whose artifacts pass every check."""


class AnnouncementMismatch(RemoteProtocolError):  # noqa: N818 (named for the reason)
    """An announcement's hashes differ from the model's registry entry."""


DEFAULT_CONTRIBUTION_WINDOW_S = 600
CONTRIBUTION_PATH = "/ceremonies/contributions/{id:int}"
# An ambiguous ceremony name lists this many candidates (the newest).
MAX_LISTED = 10


@dataclass(frozen=True)
class CompileChoice:
    """How a registration compiles its model: what it reveals, at which precision."""

    reveal: str = "logits"
    precision: str = "standard"


@dataclass(frozen=True)
class CeremonyPlan:
    """A registration from a phase-2 ceremony: the phase-1 file and the window."""

    ptau: Path
    window_s: int


class ModelRole:
    """Registers the ``model.*`` commands, the registry events and the announcement handler."""

    def __init__(
        self,
        chain: Chain,
        home: Path,
        private_key: bytes,
        *,
        announce_interval_s: float = ANNOUNCE_INTERVAL_S,
        wall_clock: Callable[[], float] = time.time,
        on_bound: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.chain, self.layout, self._key = chain, HomeLayout(home), private_key
        self.on_bound = on_bound
        self._clock = wall_clock
        self.network: ModelNetwork | None = None
        self._store: Store | None = None
        self._blobs: dict[bytes, Path] = {}
        self._refs: dict[int, tuple[ArtifactRef, ...]] = {}
        self.heard: dict[int, dict[ID, ModelAnnouncement]] = {}
        self._owner_names: dict[int, tuple[str, str]] = {}  # model id -> (owner, its label)
        self._tasks: dict[int, EventLog] = {}  # registrations and contributions
        self._locks: dict[int, trio.Lock] = {}
        self._schedule = RepeatSchedule(announce_interval_s)
        self._phase1_checked: set[bytes] = set()  # sha256 of phase-1 files checked here
        self.ceremony_keys = ceremonies.CeremonyKeys(self.layout.root / "ceremonies")

    def attach(self, network: ModelNetwork) -> None:
        """Use ``network`` to announce and fetch (the daemon builds it after this role)."""
        self.network = network

    @property
    def store(self) -> Store:
        assert self._store is not None, "register the role on an engine first"
        return self._store

    def register(self, engine: Engine) -> None:
        """Add the model commands, handlers and routes to ``engine``; index held models."""
        self._store = engine.store
        for record in engine.store.list_models():
            if record.circuit_dir is not None and Path(record.circuit_dir).is_dir():
                self._index(record.model_id, Path(record.circuit_dir))
        engine.on_event("ModelRegistry", "ModelRegistered", self._on_registered)
        engine.on_event("ModelRegistry", "ModelDeprecated", self._on_deprecated)
        engine.on_event("ModelRegistry", "CeremonyOpened", self._on_opened)
        engine.on_event("ModelRegistry", "CeremonyFinalized", self._on_finalized)
        engine.on_event("ModelRegistry", "ContributionRecorded", self._on_contribution)
        engine.on_message(ModelAnnouncement, self._on_announcement)
        engine.on_tick(self._on_tick)
        for name, handler, method, path in (
            ("model.register", self.start_registration, "POST", "/models"),
            ("model.registration", self.registration_events, "GET", REGISTRATION_PATH),
            ("model.ceremony", self.show_ceremony, "GET", "/ceremonies/{ref}"),
            ("model.contribute", self.start_contribution, "POST", "/ceremonies/contributions"),
            ("model.contribution", self.registration_events, "GET", CONTRIBUTION_PATH),
            ("model.list", self.list_models, "GET", "/models"),
            ("model.show", self.show_model, "GET", "/models/{ref}"),
            ("model.fetch", self.fetch_model, "POST", "/models/{id:int}/fetch"),
        ):  # fmt: skip
            engine.on_command(name, handler)
            engine.expose(method, path, name)

    def lookup_blob(self, sha256: bytes) -> Path | None:
        """The p2p blob lookup: the file of a held model's artifact with this sha256."""
        path = self._blobs.get(sha256)
        if path is not None and path.is_file():
            return path
        return self.ceremony_keys.lookup(sha256)

    def _index(self, model_id: int, path: Path) -> None:
        self._blobs.update(blob_index(path))
        self._refs[model_id] = artifact_refs(path)

    # -- registration ----------------------------------------------------------

    async def start_registration(self, ctx: EngineContext, body: Mapping[str, Any]) -> Any:
        """Start compiling, setting up and registering ``body["onnx"]``; the registration id."""
        name = checked_name(body.get("name"))
        onnx = local_file(body.get("onnx"), "onnx")
        calibration = body.get("calibration")
        samples = None if calibration is None else local_file(calibration, "calibration")
        reveal, precision = body.get("reveal", "logits"), body.get("precision", "standard")
        try:
            parse_reveal(reveal if isinstance(reveal, str) else "")
            CompileOptions().with_precision(precision if isinstance(precision, str) else "")
        except CompileError as exc:
            raise BadRequest(str(exc)) from exc
        build = CompileChoice(reveal, precision)
        plan = None
        if body.get("ptau") is not None:
            window = body.get("contribution_window", DEFAULT_CONTRIBUTION_WINDOW_S)
            if not isinstance(window, int) or isinstance(window, bool) or window < 0:
                raise BadRequest("contribution_window must be a whole number of seconds")
            plan = CeremonyPlan(local_file(body["ptau"], "ptau"), window)
        rid = self._start_task(
            ctx,
            f"registering {onnx}",
            lambda log: self._register(ctx, log, onnx, name, samples, plan, build),
        )
        return {"registration": rid}

    def _start_task(
        self, ctx: EngineContext, what: str, work: Callable[[EventLog], Awaitable[dict[str, Any]]]
    ) -> int:
        """Run ``work`` in the background with a progress log; the log's id. The log ends
        with a "done" event holding what ``work`` returned, or a "failed" one."""
        log = EventLog()
        tid = len(self._tasks) + 1
        self._tasks[tid] = log

        async def run() -> None:
            try:
                log.append({"stage": "done", **await work(log)})
            except Exception as exc:
                code, message = describe_error(exc)
                logger.warning("%s failed: %s", what, message)
                log.append({"stage": "failed", "code": code, "error": message})
            finally:
                log.close()

        ctx.spawn(run)
        return tid

    async def registration_events(self, ctx: EngineContext, body: Mapping[str, Any]) -> Any:
        """A long poll of registration ``body["id"]``'s progress (after=N, timeout=S)."""
        log = self._tasks.get(int(body["id"]))
        if log is None:
            raise NotFound(f"no task {body['id']} in this run of the daemon")
        try:
            after, timeout_s = int(body.get("after", 0)), float(body.get("timeout", 25.0))
        except ValueError as exc:
            raise BadRequest(f"after and timeout must be numbers: {exc}") from exc
        page = await log.wait_since(max(after, 0), min(max(timeout_s, 0.0), 55.0))
        return page.to_json()

    async def _register(
        self,
        ctx: EngineContext,
        log: EventLog,
        onnx: Path,
        name: str,
        samples: Path | None,
        plan: CeremonyPlan | None = None,
        build: CompileChoice | None = None,
    ) -> dict[str, Any]:
        build = build or CompileChoice()
        if plan is not None:
            record = await self._register_from_ceremony(ctx, log, onnx, name, samples, plan, build)
        else:
            pending, spec = await self._build(log, onnx, name, samples, build)
            log.append({"stage": "registering", **spec_json(spec)})
            try:
                model_id, result = await ctx.executor.execute(
                    "register_model", None, {"name": name, **spec_json(spec)},
                    lambda chain: chain.register_model(spec),
                )  # fmt: skip
            except (ContractRevert, TransactionRejected):
                _discard(pending)  # refused: nothing on-chain will ever name these keys
                raise
            record = self._adopt(model_id, spec, self.chain.address, result.record.tx_hash)
        log.append({"stage": "announcing", "model_id": record.model_id})
        await self.announce(record)
        return {"model": model_json(record)}

    async def _build(
        self, log: EventLog, onnx: Path, name: str, samples: Path | None, options: CompileChoice
    ) -> tuple[Path, ModelSpec]:
        """Compile and set up ``onnx`` into its pending folder; the folder and registry entry."""
        build = self.layout.models / f".build-{secrets.token_hex(8)}"
        try:
            log.append({"stage": "compiling", "onnx": str(onnx)})
            n = await trio.to_thread.run_sync(
                compile_into, build, onnx, samples, options.reveal, options.precision
            )
            log.append({"stage": "setup", "constraints": n})
            spec = (await trio.to_thread.run_sync(setup_into, build)).spec
            pending = self._pending(spec.manifest_hash)
            write_name(pending, name)
            build.rename(pending)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        return pending, spec

    async def _register_from_ceremony(
        self,
        ctx: EngineContext,
        log: EventLog,
        onnx: Path,
        name: str,
        samples: Path | None,
        plan: CeremonyPlan,
        options: CompileChoice,
    ) -> ModelRecord:
        """Compile, open the model's ceremony on-chain, contribute, wait out the window,
        close it, build the final key on the contributions this node can verify, apply the
        beacon and register the final key (``ceremonies``)."""
        build = self.layout.models / f".build-{secrets.token_hex(8)}"
        try:
            log.append({"stage": "compiling", "onnx": str(onnx)})
            n = await trio.to_thread.run_sync(
                compile_into, build, onnx, samples, options.reveal, options.precision
            )
            log.append({"stage": "ceremony", "step": "initial key", "constraints": n})
            phase1, initial = await trio.to_thread.run_sync(ceremony.start, build, plan.ptau)
            circuit = file_sha256(build / R1CS_FILE)
            send = self._sender(ctx, name)
            cid, _ = await send(
                "open_ceremony",
                lambda c: c.open_ceremony(circuit, phase1, initial, plan.window_s, name),
                window_s=plan.window_s,
            )
            self.ceremony_keys.add(cid, (build / ZKEY_FILE).read_bytes())
            info = await trio.to_thread.run_sync(self.chain.get_ceremony, cid)
            log.append({"stage": "ceremony", "step": "opened", "ceremony_id": cid,
                        "contribution_deadline": info.contribution_deadline})  # fmt: skip
            made = await ceremonies.contribute(
                self.chain, self._key_network(), self.ceremony_keys, send, cid, "registrant", log
            )
            log.append({"stage": "ceremony", "step": "contributed", "ceremony_id": cid,
                        "index": made.index, "hash": made.contribution_hash.hex()})  # fmt: skip
            log.append({"stage": "ceremony", "step": "waiting", "ceremony_id": cid,
                        "contribution_deadline": info.contribution_deadline})  # fmt: skip
            beacon = await ceremonies.await_beacon(
                self.chain, send, cid, info.contribution_deadline
            )
            recorded = await trio.to_thread.run_sync(self.chain.ceremony_contributions, cid)
            cdir = CircuitDir.open(build)
            r1cs = binfmt.r1cs_from_bytes(cdir.read_checked("r1cs"))
            ptau = PowersOfTau(cdir.read_checked("phase1"))
            log.append({"stage": "ceremony", "step": "verifying", "ceremony_id": cid,
                        "recorded": len(recorded)})  # fmt: skip
            choice = await ceremonies.choose_final(
                self._key_network(), self.ceremony_keys, cid, recorded, made.index, r1cs, ptau
            )
            log.append({"stage": "ceremony", "step": "chosen", "ceremony_id": cid,
                        "included": choice.included, "recorded": len(recorded),
                        "left_out": list(choice.left_out)})  # fmt: skip
            await trio.to_thread.run_sync(record_ceremony, CircuitDir.open(build), choice.key)
            final = await trio.to_thread.run_sync(ceremony.finalize_key, build, beacon)
            spec = spec_of(build)
            pending = self._pending(spec.manifest_hash)
            write_name(pending, name)
            build.rename(pending)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        log.append({"stage": "registering", "ceremony_id": cid, **spec_json(spec)})
        try:
            model_id, result = await send(
                "finalize_ceremony",
                lambda c: c.finalize_ceremony(cid, choice.included, final, spec),
                ceremony_id=cid, included=choice.included, **spec_json(spec),
            )  # fmt: skip
        except (ContractRevert, TransactionRejected):
            _discard(pending)
            raise
        contributors = tuple(r.contributor for r in recorded[: choice.included])
        return self._adopt(
            model_id, spec, self.chain.address, result.record.tx_hash, cid, contributors
        )

    def _sender(self, ctx: EngineContext, name: str) -> ceremonies.Send:
        """Send one ceremony transaction through the intent journal."""

        async def send(step: str, action: Callable[[Chain], T], **params: Any) -> T:
            return await ctx.executor.execute(
                "register_model", None, {"name": name, "step": step, **params}, action
            )

        return send

    def _key_network(self) -> ceremonies.KeyNetwork:
        assert self.network is not None, "attach the network first"
        return self.network

    # -- contributing to others' ceremonies --------------------------------------

    async def start_contribution(self, ctx: EngineContext, body: Mapping[str, Any]) -> Any:
        """Start contributing to ceremony ``body["ceremony"]`` (an id, or the name of exactly
        one ceremony open now); the task's id."""
        label = body.get("name", "")
        if not isinstance(label, str) or len(label.encode()) > MAX_CONTRIBUTION_NAME:
            raise BadRequest(f"name must be text of at most {MAX_CONTRIBUTION_NAME} bytes")
        cid = await self._ceremony_ref(body.get("ceremony"), open_only=True)
        rid = self._start_task(
            ctx,
            f"contributing to ceremony {cid}",
            lambda log: self._contribute(ctx, log, cid, label),
        )
        return {"contribution": rid}

    async def _ceremony_ref(self, ref: object, *, open_only: bool) -> int:
        """The ceremony ``ref`` names: an id the registry has, or a name that exactly one
        ceremony open now was opened under (without ``open_only``, failing that, exactly one
        ceremony at all). Names are labels anyone may open a ceremony under, so an
        ambiguous one lists the candidates."""
        if isinstance(ref, str) and ref.isdigit():
            ref = int(ref)
        if isinstance(ref, str) and ref:
            return await self._ceremony_named(ref, open_only)
        if not isinstance(ref, int) or isinstance(ref, bool) or ref < 1:
            raise BadRequest("ceremony must be a ceremony id (a positive whole number) or a name")
        try:
            await trio.to_thread.run_sync(self.chain.get_ceremony, ref)
        except ContractRevert as exc:
            raise NotFound(f"the registry has no ceremony {ref}") from exc
        return ref

    async def _ceremony_named(self, name: str, open_only: bool) -> int:
        named = self.store.ceremonies_named(name)
        if not named:
            raise NotFound(f"no ceremony named {name!r} has been opened on the registry (as far "
                           "as this node has read the chain); name one by id")  # fmt: skip
        now = await trio.to_thread.run_sync(self.chain.timestamp)
        # A window, once over, never reopens: "open" needs no chain read per candidate.
        live = [c for c in named if now <= c.contribution_deadline]
        if not live and not open_only:
            live = named
        if len(live) == 1:
            return live[0].ceremony_id
        listed = "; ".join(
            f"{c.ceremony_id} (coordinator {c.coordinator}, window "
            f"{'ends' if now <= c.contribution_deadline else 'ended'} "
            f"{moment(c.contribution_deadline, now)})"
            for c in named[:MAX_LISTED]
        ) + (f"; and {len(named) - MAX_LISTED} more" if len(named) > MAX_LISTED else "")
        if not live:
            raise Conflict(f"no ceremony named {name!r} takes contributions now: {listed}")
        raise Conflict(f"{len(live)} ceremonies are named {name!r}; name one by id: {listed}")

    async def _contribute(
        self, ctx: EngineContext, log: EventLog, cid: int, label: str
    ) -> dict[str, Any]:
        made = await ceremonies.contribute(
            self.chain, self._key_network(), self.ceremony_keys,
            self._sender(ctx, f"ceremony {cid}"), cid, label, log,
        )  # fmt: skip
        return {"ceremony_id": cid, "index": made.index, "key_sha256": made.key_sha256.hex(),
                "hash": made.contribution_hash.hex()}  # fmt: skip

    def _pending(self, manifest_hash: bytes) -> Path:
        return self.layout.models / f".pending-{manifest_hash.hex()}"

    def _adopt(
        self,
        model_id: int,
        spec: ModelSpec,
        owner: str,
        tx: str | None,
        ceremony_id: int = 0,
        transcript: tuple[str, ...] | None = None,
    ) -> ModelRecord:
        """Move our pending folder for ``spec`` into place and record the model (idempotent)."""
        target, pending = self.layout.model_dir(model_id), self._pending(spec.manifest_hash)
        name = read_name(pending) or self._known_name(model_id)
        if pending.is_dir() and not target.exists():
            pending.rename(target)
            name_file(pending).unlink(missing_ok=True)
        held = str(target) if target.is_dir() else None
        known = self.store.get_model(model_id)
        if known is not None and ceremony_id == 0:
            ceremony_id, transcript = known.ceremony_id, known.transcript
        record = model_record(model_id, name, spec, owner, held, tx, ceremony_id, transcript)
        self.store.upsert_model(record)
        if held is not None:
            self._index(model_id, target)
        return record

    def _known_name(self, model_id: int) -> str:
        known = self.store.get_model(model_id)
        return known.name if known is not None else ""

    # -- chain events ----------------------------------------------------------

    def _on_registered(self, ctx: EngineContext, event: ChainEvent) -> None:
        a = event.args
        model_id, owner = int(a["modelId"]), to_checksum_address(a["owner"])
        spec = ModelSpec(
            bytes(a["onnxSha256"]), bytes(a["circuitHash"]), bytes(a["manifestHash"]),
            int(a["nPublic"]), int(a["constraintCount"]), b"",
        )  # fmt: skip
        known = self.store.get_model(model_id)
        if owner == self.chain.address and self._pending(spec.manifest_hash).is_dir():
            self._adopt(model_id, spec, owner, event.tx_hash)
        elif known is None:
            claimed_by, name = self._owner_names.get(model_id, (owner, ""))
            name = name if claimed_by == owner else ""
            self.store.upsert_model(model_record(model_id, name, spec, owner, None, event.tx_hash))

    def _on_contribution(self, ctx: EngineContext, event: ChainEvent) -> None:
        cid, sha = int(event.args["ceremonyId"]), bytes(event.args["keySha256"])
        if self.network is not None and self.ceremony_keys.follows(cid):
            network = self.network
            ctx.defer(lambda: ceremonies.mirror(network, self.ceremony_keys, cid, sha))

    def _on_opened(self, ctx: EngineContext, event: ChainEvent) -> None:
        a = event.args
        self.store.add_ceremony(CeremonyRecord(
            int(a["ceremonyId"]), str(a["name"]), to_checksum_address(a["coordinator"]),
            int(a["contributionDeadline"]),
        ))  # fmt: skip

    def _on_finalized(self, ctx: EngineContext, event: ChainEvent) -> None:
        ceremony_id = int(event.args["ceremonyId"])
        self.ceremony_keys.forget(ceremony_id)  # the final key needs none of them
        known = self.store.get_model(int(event.args["modelId"]))
        if known is None:
            return
        changes: dict[str, Any] = {}
        if known.ceremony_id == 0:
            changes["ceremony_id"] = ceremony_id
        opened = self.store.get_ceremony(ceremony_id)
        if opened is not None and usable_name(opened.name):
            changes["name"] = opened.name  # on-chain, so no gossiped label overrides it
        if changes:
            self.store.upsert_model(replace_record(known, **changes))

    def _on_deprecated(self, ctx: EngineContext, event: ChainEvent) -> None:
        known = self.store.get_model(int(event.args["modelId"]))
        if known is not None:
            self.store.upsert_model(replace_record(known, deprecated=True))

    # -- gossip ----------------------------------------------------------------

    async def _on_announcement(
        self, ctx: EngineContext, inbound: GossipMessage | DirectMessage
    ) -> None:
        if not isinstance(inbound, GossipMessage) or not isinstance(inbound.message, Verified):
            raise AnnouncementMismatch("model announcements travel as signed gossip")
        ann = inbound.message.message
        assert isinstance(ann, ModelAnnouncement)
        known = self.store.get_model(ann.model_id)
        if known is not None and (
            (known.onnx_sha256, known.circuit_id, known.manifest_hash)
            != (ann.onnx_sha256, ann.circuit_id, ann.manifest_hash)
        ):
            raise AnnouncementMismatch(f"model {ann.model_id}'s hashes differ from the registry")
        announcers = self.heard.setdefault(ann.model_id, {})
        announcers.pop(inbound.origin, None)
        announcers[inbound.origin] = ann  # newest last
        if len(announcers) > MAX_ANNOUNCERS:
            del announcers[next(iter(announcers))]  # the peer heard from longest ago
            self.on_bound("model_announcers")
        owner = to_checksum_address(ann.owner)
        if owner == signer_of(inbound):  # the owner's own label for its model
            self._owner_names[ann.model_id] = (owner, ann.name)
            if known is not None and not known.name and owner == known.owner:
                self.store.upsert_model(replace_record(known, name=ann.name))

    async def _on_tick(self, ctx: EngineContext, now: float) -> None:
        if self.network is None or not self._schedule.due(now, self.network.connected_peers()):
            return
        for record in self.store.list_models():
            if record.model_id in self._refs and not record.deprecated:
                await self.announce(record)

    async def announce(self, record: ModelRecord) -> None:
        """Publish a signed announcement of a held model on the models topic."""
        if self.network is None or record.model_id not in self._refs:
            return
        announcement = ModelAnnouncement(
            model_id=record.model_id, name=record.name, onnx_sha256=record.onnx_sha256,
            circuit_id=record.circuit_id, manifest_hash=record.manifest_hash,
            artifacts=self._refs[record.model_id],
            owner=bytes.fromhex(record.owner.removeprefix("0x")),
        )  # fmt: skip
        data = sealed_for_gossip(
            self._key,
            self.chain.chain_id,
            announcement,
            now=self._clock(),
            lifetime_s=ANNOUNCE_LIFETIME_S,
        )
        try:
            await self.network.publish(MODELS_TOPIC, data)
        except Exception as exc:  # gossip is best effort: the next round tries again
            logger.warning("announcing model %d failed: %r", record.model_id, exc)

    # -- fetching --------------------------------------------------------------

    async def ensure_model(self, model_id: int) -> Path:
        """The circuit directory of ``model_id``, fetched from announcing peers if missing.

        Raises ModelUnavailable when no peer supplied artifacts that pass every check.
        """
        lock = self._locks.setdefault(model_id, trio.Lock())
        async with lock:
            held = held_dir(self.store.get_model(model_id))
            if held is not None:
                return held
            info, key = await trio.to_thread.run_sync(self._registry_entry, model_id)
            offers = [
                (peer, ann)
                for peer, ann in self.heard.get(model_id, {}).items()
                if (ann.onnx_sha256, ann.circuit_id, ann.manifest_hash)
                == (info.onnx_sha256, info.circuit_hash, info.manifest_hash)
            ]
            problems = []
            for peer, ann in offers:
                try:
                    return await self._fetch_from(peer, ann, info, key, model_id)
                except (P2PError, ModelFileError) as exc:
                    problems.append(f"{peer}: {exc}")
            detail = "; ".join(problems) or "no peer has announced it"
            raise ModelUnavailable(f"model {model_id} could not be fetched: {detail}")

    def _check_ceremony(
        self, folder: Path, model_id: int, info: ModelInfo, key: bytes
    ) -> tuple[str, ...] | None:
        """The contributors of the model's verified ceremony; None for a model registered
        without one. Raises TranscriptError when the transcript is not the recorded one."""
        if info.ceremony_id == 0:
            return None
        record = self.chain.get_ceremony(info.ceremony_id)
        recorded = self.chain.ceremony_contributions(info.ceremony_id)
        return tuple(
            check_transcript(folder, model_id, info, key, record, recorded, self._phase1_checked)
        )

    def _registry_entry(self, model_id: int) -> tuple[ModelInfo, bytes]:
        return self.chain.get_model(model_id), self.chain.verifying_key_of(model_id)

    async def _fetch_from(
        self, peer: ID, ann: ModelAnnouncement, info: ModelInfo, key: bytes, model_id: int
    ) -> Path:
        assert self.network is not None
        folder = self.layout.models / f".fetch-{model_id}-{secrets.token_hex(8)}"
        folder.mkdir(parents=True)
        try:
            await self._fetch_files(peer, ann, info, folder)
            try:
                await trio.to_thread.run_sync(check_fetched, folder, info, key, ann.artifacts)
                transcript = await trio.to_thread.run_sync(
                    self._check_ceremony, folder, model_id, info, key
                )
            except (ModelFileError, OSError, RemoteProtocolError) as exc:
                self.network.penalise(peer, BAD_ARTIFACTS_PENALTY)
                raise ModelFileError(str(exc)) from exc
            target = self.layout.model_dir(model_id)
            shutil.rmtree(target, ignore_errors=True)  # a copy never recorded (crash) is stale
            folder.rename(target)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        spec = ModelSpec(
            info.onnx_sha256, info.circuit_hash, info.manifest_hash, info.n_public,
            info.constraint_count, key,
        )  # fmt: skip
        record = model_record(model_id, self._known_name(model_id) or ann.name, spec, info.owner,
                              str(target), None, info.ceremony_id, transcript)  # fmt: skip
        self.store.upsert_model(replace_record(record, deprecated=info.deprecated))
        self._index(model_id, target)
        logger.info("fetched model %d from %s", model_id, peer)
        return target

    async def _fetch_files(
        self, peer: ID, ann: ModelAnnouncement, info: ModelInfo, folder: Path
    ) -> None:
        """The manifest first (its hash is the registry's), then every file it lists, each
        capped at the manifest's size and given ``fetch_budget_s`` of it to arrive."""
        assert self.network is not None
        manifest = next((r for r in ann.artifacts if r.name == MANIFEST), None)
        if manifest is None:
            raise ModelFileError("the announcement lists no manifest")
        await self._fetch_file(peer, MANIFEST, manifest.sha256, MAX_MANIFEST_BYTES, folder)
        try:
            files = manifest_files((folder / MANIFEST).read_bytes(), info)
        except ModelFileError:
            self.network.penalise(peer, BAD_ARTIFACTS_PENALTY)
            raise
        for name, sha256, size in files:
            await self._fetch_file(peer, name, sha256, size, folder, exact=True)

    async def _fetch_file(
        self, peer: ID, name: str, sha256: bytes, size: int, folder: Path, *, exact: bool = False
    ) -> None:
        assert self.network is not None
        budget = fetch_budget_s(size)
        try:
            with trio.fail_after(budget):
                got = await self.network.fetch_blob_to_file(
                    peer, sha256, folder / name, max_bytes=size
                )
        except trio.TooSlowError:
            raise ModelFileError(
                f"{name} ({size} bytes) did not arrive within {budget:.0f} s"
            ) from None
        if exact and got != size:
            raise ModelFileError(f"{name} is {got} bytes, the manifest says {size}")

    # -- queries ---------------------------------------------------------------

    async def list_models(self, ctx: EngineContext, body: Mapping[str, Any]) -> Any:
        """Every model this node knows, by id."""
        return {"models": [model_json(r) for r in self.store.list_models()]}

    async def show_model(self, ctx: EngineContext, body: Mapping[str, Any]) -> Any:
        """One model by id or name (``model_by_ref``), with its on-chain state."""
        ref = str(body["ref"])
        record = model_by_ref(self.store, ref)
        if record is None:
            raise NotFound(f"no model {ref!r} is known to this node (see `provernet model list`)")
        info = await trio.to_thread.run_sync(self.chain.get_model, record.model_id)
        answer = model_json(replace_record(record, deprecated=info.deprecated))
        answer["chain"] = {
            "owner": info.owner, "deprecated": info.deprecated,
            "verifying_key_address": info.verifying_key,
        }  # fmt: skip
        answer["announced_by"] = sorted(p.to_base58() for p in self.heard.get(record.model_id, {}))
        answer["same_name"] = [
            m.model_id for m in self.store.models_named(record.name) if m != record and m.name
        ]
        return answer

    async def show_ceremony(self, ctx: EngineContext, body: Mapping[str, Any]) -> Any:
        """Ceremony ``body["ref"]``'s (an id or a name) on-chain record and contributions,
        and which of their keys this node holds."""
        cid = await self._ceremony_ref(str(body["ref"]), open_only=False)
        info = await trio.to_thread.run_sync(self.chain.get_ceremony, cid)
        recorded = await trio.to_thread.run_sync(self.chain.ceremony_contributions, cid)
        now = await trio.to_thread.run_sync(self.chain.timestamp)
        opened = self.store.get_ceremony(cid)
        answer = ceremonies.ceremony_json(cid, info, recorded, now, self.ceremony_keys)
        return {**answer, "name": None if opened is None else opened.name}

    async def fetch_model(self, ctx: EngineContext, body: Mapping[str, Any]) -> Any:
        """Make sure model ``body["id"]`` is held here (fetching it); the model."""
        model_id = int(body["id"])
        try:
            await self.ensure_model(model_id)
        except ModelUnavailable as exc:
            raise HttpError(str(exc), status=502, code="unavailable") from exc
        record = self.store.get_model(model_id)
        assert record is not None
        return model_json(record)


def _discard(pending: Path) -> None:
    shutil.rmtree(pending, ignore_errors=True)
    name_file(pending).unlink(missing_ok=True)


__all__ = ["AnnouncementMismatch", "ModelNetwork", "ModelRole", "ModelUnavailable", "model_json"]
