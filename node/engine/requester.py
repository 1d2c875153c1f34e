"""The requester role: submit a job, collect bids, award, deliver the input, await the result.

Theory of operation. Each job is a ``protocol.market.RequesterJob`` in the store;
every change goes through ``requester_step`` and is saved BEFORE its actions are
taken (ARCHITECTURE invariant 4). ``job.submit`` quantizes the input, draws a
salt, stores job, input and salt, then journals and sends createJob; its answer
carries ``warnings`` drawn from the provers' heartbeats (never a refusal). The job is
announced on gossip (and re-announced while its bid window is open); bids arriving
by gossip or directly are stored with their verdict (``bid_problem``). When the
window closes (``AWARD_LEAD_S`` before the bid deadline, so awardJob lands in time)
the winner is ``select_winner``'s; its input goes only to its peer, bound to its
account. JobMarket's ProofAccepted carries the outputs, decoded and stored. No
valid bid by the deadline: the job is cancelled and the escrow withdrawn.

Transactions answer with their events, which advance the job at once; the same
events, seen later by the chain sync, then find it moved on and are ignored. After
a crash, the sync's replay and the tick (which turns a failed or vanished intent
into ``TxFailed``) carry every job on from its stored state.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import trio

from node.api.errors import BadRequest, Conflict, HttpError, NotFound
from node.api.events import EventLog
from node.chain.events import ChainEvent
from node.chain.interface import Chain
from node.engine.core import Engine, EngineContext
from node.engine.requester_acts import (
    ANNOUNCE_EVERY_S,
    AWARD_LEAD_S,
    RESCUE_WINDOW_S,
    RequesterActions,
    Resubmission,
    checksum,
)
from node.engine.requester_body import amount_of, duration_of
from node.engine.requester_input import (
    ModelUnavailableError,
    decode_outputs,
    load_model,
    output_scale_of,
    prepare_input,
)
from node.engine.requester_net import RequesterNetwork
from node.engine.requester_recovery import owed_actions
from node.engine.requester_views import TERMINAL, job_json
from node.engine.rescue_offers import answer_rescue_offer, asks_for_input
from node.p2p.config import DirectMessage
from node.p2p.gossip import GossipMessage
from node.store import BidDirection, BidSource, BidStatus, IntentStatus, JobRecord, Role, Store
from protocol import zkml
from protocol.market import RequesterJob, RequesterState
from protocol.market import actions as ma
from protocol.market.requester import AwardChosen
from protocol.market.selection import Reputation, bid_problem, select_winner
from protocol.messages import Bid, Verified
from protocol.r1cs.system import R

logger = logging.getLogger(__name__)

S = RequesterState
# Warnings for a job about to be submitted: (model id, constraints, max fee) -> messages.
Advice = Callable[[int, int, int], list[str]]
_TX_KIND = {
    S.CREATING: "create_job",
    S.AWARDING: "award_job",
    S.CANCELLING: "cancel_job",
    S.SLASHING: "slash",
}


class RequesterRole(RequesterActions):
    """Registers the ``job.*`` commands, the bid handler, the JobMarket events and a tick."""

    def __init__(
        self,
        chain: Chain,
        network: RequesterNetwork,
        *,
        market: str,
        models_dir: Path,
        default_collateral: int,
        default_deadline_s: int,
        clock: Callable[[], float] = time.time,
        award_lead_s: int = AWARD_LEAD_S,
        resubmit: Resubmission | None = None,
        ensure_model: Callable[[int], Awaitable[Path]] | None = None,
        keep_inputs: bool = False,
        rescue_window: int = RESCUE_WINDOW_S,
        advice: Advice | None = None,
    ) -> None:
        self.chain, self.network, self.models_dir = chain, network, models_dir
        self.rescue_window = rescue_window  # JobMarket's, fixed at deployment
        self.market = bytes.fromhex(market[2:])
        self.default_collateral, self.default_deadline_s = default_collateral, default_deadline_s
        self.clock, self.award_lead_s = clock, award_lead_s
        self.resubmit, self.ensure_model = resubmit, ensure_model
        self.keep_inputs = keep_inputs  # else a private input is deleted once the job settles
        self.advice = advice  # warnings from the provers' heartbeats (known_provers.py)
        self.logs: dict[int, EventLog] = {}
        self._busy: Counter[int] = Counter()
        self._announced_at: dict[int, float] = {}
        self._retry_at: dict[int, float] = {}
        self._scales: dict[int, int] = {}
        self._ticked = False
        self._stepped: set[int] = set()

    def register(self, engine: Engine) -> None:
        """Add the requester's handlers and routes to ``engine``."""
        for name, handler in (
            ("job.submit", self.submit),
            ("job.status", self.status),
            ("job.list", self.list_jobs),
            ("job.watch", self.watch),
            ("job.cancel", self.cancel),
        ):
            engine.on_command(name, handler)
        engine.expose("POST", "/jobs", "job.submit")
        engine.expose("GET", "/jobs", "job.list")
        engine.expose("GET", "/jobs/{id:int}", "job.status")
        engine.expose("GET", "/jobs/{id:int}/events", "job.watch")
        engine.expose("POST", "/jobs/{id:int}/cancel", "job.cancel")
        engine.on_message(Bid, self.on_bid)
        for name in ("JobCreated", "JobAwarded", "JobCancelled", "ProofAccepted", "ProverSlashed"):
            engine.on_event("JobMarket", name, self.on_chain_event)
        engine.on_tick(self.on_tick)

    # -- commands -------------------------------------------------------------

    async def submit(self, ctx: EngineContext, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create, escrow and announce a job for ``body``'s model and input."""
        model_id, circuit_dir = self._model(ctx.store, body.get("model"))
        info = await trio.to_thread.run_sync(self.chain.get_model, model_id)
        if not circuit_dir.is_dir():
            circuit_dir = await self._fetch_model(model_id, circuit_dir)
        if info.deprecated:
            raise Conflict(f"model {model_id} is deprecated in the registry")
        max_fee = amount_of(body, "max_fee", None)
        collateral = amount_of(body, "collateral", self.default_collateral)
        deadline_s = duration_of(body.get("deadline"), self.default_deadline_s)
        prepared, scale = await trio.to_thread.run_sync(
            _prepare, circuit_dir, body.get("input"), secrets.randbelow(R)
        )
        self._scales[model_id] = scale
        terms = (max_fee, collateral, deadline_s)
        key = self._open_job(ctx, model_id, info.constraint_count, prepared, terms)
        answer = self._json(ctx.store, key)
        advice = self.advice
        n = info.constraint_count
        answer["warnings"] = [] if advice is None else advice(model_id, n, max_fee)
        return answer

    async def status(self, ctx: EngineContext, body: Mapping[str, Any]) -> dict[str, Any]:
        """One job, its bids, outputs and transactions."""
        return self._json(ctx.store, self._key(ctx.store, body))

    async def list_jobs(self, ctx: EngineContext, body: Mapping[str, Any]) -> dict[str, Any]:
        """Every job this node requested, oldest first."""
        records = ctx.store.list_jobs(Role.REQUESTER)
        return {
            "jobs": [job_json(ctx.store, r, self._txs(ctx.store, r), brief=True) for r in records]
        }

    async def watch(self, ctx: EngineContext, body: Mapping[str, Any]) -> dict[str, Any]:
        """Events of one job after ``after``, waiting up to ``timeout`` seconds for one."""
        key = self._key(ctx.store, body)
        log = self.logs.get(key) or self._log(key, ctx.store.get_job(key).job)
        try:
            after, timeout = int(body.get("after", 0)), float(body.get("timeout", 25.0))
        except (TypeError, ValueError) as exc:
            raise BadRequest("after and timeout must be numbers") from exc
        page = await log.wait_since(max(0, after), min(max(0.0, timeout), 55.0))
        return page.to_json()

    async def cancel(self, ctx: EngineContext, body: Mapping[str, Any]) -> dict[str, Any]:
        """Cancel an unawarded job after its bid deadline (JobMarket allows no sooner)."""
        key = self._key(ctx.store, body)
        record = ctx.store.get_job(key)
        job = record.job
        assert isinstance(job, RequesterJob)
        if job.state not in (S.CREATED, S.ANNOUNCED):
            raise Conflict(
                f"job {key} is {job.state.value}; only an unawarded job can be cancelled"
            )
        if self.clock() <= job.bid_deadline:
            raise Conflict(
                f"JobMarket cancels only after the bid deadline {job.bid_deadline}; "
                "the node cancels it then by itself if nobody has won it"
            )
        await self.on_tick(ctx, self.clock())
        return self._json(ctx.store, key)

    # -- inbound --------------------------------------------------------------

    async def on_bid(self, ctx: EngineContext, inbound: GossipMessage | DirectMessage) -> None:
        """Store a bid for one of our jobs with its verdict; others' jobs are ignored."""
        bid = inbound.message.message if isinstance(inbound.message, Verified) else inbound.message
        assert isinstance(bid, Bid)
        record = ctx.store.find_job(bid.job_id, Role.REQUESTER)
        if record is None:
            return
        source = BidSource.DIRECT if isinstance(inbound, DirectMessage) else BidSource.GOSSIP
        bid_key, new = ctx.store.add_bid(bid, BidDirection.RECEIVED, source)
        if record.job.state is S.OVERDUE:  # an offer to rescue it (node.engine.rescue_offers)
            await answer_rescue_offer(self, ctx, record, bid_key, bid)
            return
        if asks_for_input(record.job, bid):  # our prover lost its input (rescue_offers)
            self._perform(ctx, record.key, (ma.DeliverInput(bid.prover),))
            return
        if not new:
            return
        problem = await self._problem(ctx.store, record, bid)
        if problem is None and record.job.state not in (S.CREATED, S.ANNOUNCED):
            problem = f"the job is {record.state}; it takes no more bids"
        status = BidStatus.INVALID if problem else BidStatus.VALID
        ctx.store.set_bid_status(bid_key, status, problem)
        self._note(record.key, "bid", prover=checksum(bid.prover), fee=str(bid.fee), reason=problem)

    def on_chain_event(self, ctx: EngineContext, event: ChainEvent) -> None:
        """Advance our job named by a JobMarket event (a replay finds it moved on)."""
        if event.name == "JobCreated":
            self._on_created_event(ctx, event)
            return
        record = ctx.store.find_job(int(event.args["jobId"]), Role.REQUESTER)
        if record is None:
            return
        if event.name == "ProofAccepted":
            self._on_proof(ctx, record, event)
            return
        step: ma.Event
        if event.name == "JobAwarded":
            prover = bytes.fromhex(str(event.args["prover"])[2:])
            step = ma.ChainJobAwarded(prover, int(event.args["fee"]))
        else:
            step = (
                ma.ChainJobCancelled() if event.name == "JobCancelled" else ma.ChainProverSlashed()
            )
        advanced = self._advance(ctx, record.key, step, defer=True)
        if advanced is not None and isinstance(step, ma.ChainJobAwarded):
            # The award's own answer was lost (a crash): the event names the winner.
            self._mark_winner(ctx.store, int(event.args["jobId"]), step.prover, step.fee)

    def _mark_winner(self, store: Store, job_id: int, prover: bytes, fee: int) -> None:
        for b in store.bids_for_job(job_id, BidDirection.RECEIVED):
            if (b.bid.prover, b.bid.fee) == (prover, fee) and b.status is BidStatus.VALID:
                store.mark_winner(job_id, b.key)
                return

    def _on_created_event(self, ctx: EngineContext, event: ChainEvent) -> None:
        # Only a job whose createJob result was lost (a crash) is still CREATING here.
        for record in ctx.store.list_jobs(Role.REQUESTER, [S.CREATING.value]):
            sent = [i.tx_hash for i in ctx.store.intents_for_job(record.key)]
            if event.tx_hash.lower() in sent:
                self._advance(
                    ctx, record.key, ma.ChainJobCreated(int(event.args["jobId"])), defer=True
                )

    def _on_proof(self, ctx: EngineContext, record: JobRecord, event: ChainEvent) -> None:
        job = record.job
        assert isinstance(job, RequesterJob)
        if int(event.args["jobId"]) != job.job_id:
            return
        step: ma.Event
        if bool(event.args["rescued"]):
            step = ma.ChainProofRescued(bytes.fromhex(str(event.args["prover"])[2:]))
        else:
            step = ma.ChainProofAccepted()
        if self._advance(ctx, record.key, step, defer=True) is None:
            return
        ctx.store.set_proof_tx(record.key, event.tx_hash)
        assert record.model_id is not None
        try:
            scale = self._scale(ctx.store, record.model_id)
            output_q, output = decode_outputs(list(event.args["outputs"]), scale)
        except (ModelUnavailableError, ValueError) as exc:
            logger.error("job %d: the outputs cannot be decoded: %s", record.key, exc)
            return
        ctx.store.set_outputs(record.key, output_q, output)
        self._note(record.key, "result", output=output, tx=event.tx_hash)

    # -- the clock ------------------------------------------------------------

    async def on_tick(self, ctx: EngineContext, _trio_now: float) -> None:
        """Deadlines, the award at the window's close, retries of what failed."""
        now = self.clock()
        first, self._ticked = not self._ticked, True
        for record in ctx.store.list_jobs(Role.REQUESTER):
            job = record.job
            assert isinstance(job, RequesterJob)
            if self._busy[record.key]:
                continue
            if job.state in TERMINAL:
                if first and record.key not in self._stepped:  # settled in an earlier run
                    owed = owed_actions(
                        ctx.store, record.key, job, resubmitting=bool(self.resubmit)
                    )
                    self._perform(ctx, record.key, owed)
                continue
            await self._tick_job(ctx, record.key, job, now)

    async def _tick_job(self, ctx: EngineContext, key: int, job: RequesterJob, now: float) -> None:
        if job.state in _TX_KIND and self._tx_failed(ctx.store, key, _TX_KIND[job.state]):
            self._advance(ctx, key, ma.TxFailed("the transaction failed or was never sent"))
            return
        if job.state in (S.CREATED, S.ANNOUNCED):
            since = now - self._announced_at.get(key, -ANNOUNCE_EVERY_S)
            if since >= ANNOUNCE_EVERY_S and now <= job.bid_deadline:
                self._perform(ctx, key, (ma.Announce(),))
            closing = job.bid_deadline - self.award_lead_s <= now <= job.bid_deadline
            if closing and await self._choose(ctx, key, job, int(now)):
                return
        if job.state is S.AWARDED and now >= self._retry_at.get(key, 0.0):
            assert job.prover is not None
            self._perform(ctx, key, (ma.DeliverInput(job.prover),))
        if now >= self._retry_at.get(key, 0.0):
            self._advance(ctx, key, ma.Tick(), now=int(now))

    async def _choose(self, ctx: EngineContext, key: int, job: RequesterJob, now: int) -> bool:
        records = [
            b
            for b in ctx.store.bids_for_job(job.job_id or 0, BidDirection.RECEIVED)
            if b.status is BidStatus.VALID
        ]
        if not records:
            return False
        stakes, reputation = await self._standing({b.bid.prover for b in records})
        announcement = self._announcement(ctx.store, ctx.store.get_job(key))
        for b in records:  # stakes move and bids expire: record what disqualifies a bid now
            problem = bid_problem(announcement, b.bid, stakes[b.bid.prover], now)
            if problem is not None:
                ctx.store.set_bid_status(b.key, BidStatus.INVALID, problem)
        winner = select_winner(announcement, [b.bid for b in records], stakes, reputation, now)
        if winner is None:
            return False
        return self._advance(ctx, key, AwardChosen(winner), now=now) is not None

    # -- helpers --------------------------------------------------------------

    async def _standing(
        self, provers: set[bytes]
    ) -> tuple[dict[bytes, int], dict[bytes, Reputation]]:
        """Each prover's free stake (ProverStaking) and record (JobMarket.proverStats)."""
        stakes, reputation = {}, {}
        for prover in sorted(provers):
            address = checksum(prover)
            stakes[prover] = (await trio.to_thread.run_sync(self.chain.stake_of, address)).free
            stats = await trio.to_thread.run_sync(self.chain.prover_stats, address)
            reputation[prover] = Reputation(stats.fulfilled, stats.slashed)
        return stakes, reputation

    async def _problem(self, store: Store, record: JobRecord, bid: Bid) -> str | None:
        try:
            free = (await trio.to_thread.run_sync(self.chain.stake_of, checksum(bid.prover))).free
        except Exception as exc:  # the RPC away: judge the stake again at the award
            logger.warning("stake of %s unknown: %r", checksum(bid.prover), exc)
            free = 0
        return bid_problem(self._announcement(store, record), bid, free, int(self.clock()))

    def _model(self, store: Store, raw: object) -> tuple[int, Path]:
        if not isinstance(raw, str | int) or isinstance(raw, bool) or str(raw) == "":
            raise BadRequest("the request needs a model: a registered model's name or id")
        text = str(raw)
        known = (
            store.get_model(int(text))
            if text.isdigit()
            else next(iter(store.models_named(text)), None)
        )
        if known is None and not text.isdigit():
            raise NotFound(f"no model named {text!r} is known here; use its on-chain id")
        model_id = int(text) if known is None else known.model_id
        circuit_dir = self._circuit_dir(store, model_id)
        return model_id, circuit_dir

    async def _fetch_model(self, model_id: int, expected: Path) -> Path:
        """The model's circuit fetched from the peers that announced it, if this node can."""
        if self.ensure_model is not None:
            try:
                return await self.ensure_model(model_id)
            except Exception as exc:  # the model role's refusals; each says why
                raise Conflict(f"model {model_id} could not be fetched: {exc}") from exc
        raise Conflict(
            f"model {model_id}'s circuit is not in {expected}; the requester needs it to "
            "quantize and commit to the input: register the model here or copy its "
            "circuit directory there"
        )

    def _scale(self, store: Store, model_id: int) -> int:
        if model_id not in self._scales:
            self._scales[model_id] = output_scale_of(self._circuit_dir(store, model_id))
        return self._scales[model_id]

    def _key(self, store: Store, body: Mapping[str, Any]) -> int:
        try:
            key = int(body["id"])
            record = store.get_job(key)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest("the request needs a job id") from exc
        except Exception as exc:  # UnknownRecordError
            raise NotFound(f"no job {body.get('id')}") from exc
        if record.role is not Role.REQUESTER:
            raise NotFound(f"job {key} is not one this node requested")
        return key

    def _txs(self, store: Store, record: JobRecord) -> dict[str, str | None]:
        found: dict[str, str | None] = {
            "create": None,
            "award": None,
            "cancel": None,
            "proof": record.proof_tx,
        }
        names = {"create_job": "create", "award_job": "award", "cancel_job": "cancel"}
        for intent in store.intents_for_job(record.key):
            if intent.kind in names and intent.status is IntentStatus.MINED:
                found[names[intent.kind]] = intent.tx_hash
        return found

    def _json(self, store: Store, key: int) -> dict[str, Any]:
        record = store.get_job(key)
        return job_json(store, record, self._txs(store, record))


def _prepare(circuit_dir: Path, raw: Any, salt: int) -> tuple[Any, int]:
    try:
        model = load_model(circuit_dir)
        return prepare_input(model, raw, salt), model.output_scale
    except ModelUnavailableError as exc:
        raise Conflict(str(exc)) from exc
    except zkml.InputError as exc:
        message = f"the input does not fit the model: {exc}"
        raise HttpError(message, status=400, code="input_rejected") from exc
