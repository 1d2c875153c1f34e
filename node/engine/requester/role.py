"""The requester role: submit a job, auction it, deliver the input, await the proof.

Theory of operation. Each job is a ``protocol.market.RequesterJob`` in the store;
every change goes through ``RequesterJobs.advance`` and is saved BEFORE its actions
are taken (ARCHITECTURE invariant 4). ``job.submit`` quantizes the input, draws a
salt, stores job, input and salt, then journals and sends createJob (``Settlement``);
its answer carries ``warnings`` (heartbeats, terms a typical prover may not meet),
never a refusal. The ``Auction`` announces the job, judges bids and awards the best
one when the bid window closes; ``Delivery`` sends the input to the awarded prover
only; the prover accepts on-chain (JobAccepted) and proves (ProofAccepted, whose
outputs are decoded and stored). A lapsed award or a slash goes back to the auction
(the next standing bid, or a new round); a job nobody takes is cancelled and its
escrow withdrawn; an unproven job may be resubmitted at a higher max fee.

Transactions answer with their events, which advance the job at once; the same
events, seen later by the chain sync, then find it moved on and are ignored. After
a crash, the sync's replay and the tick (which turns a failed or vanished intent
into ``TxFailed``) carry every job on from its stored state.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import trio

from node.api.errors import BadRequest, Conflict, HttpError, NotFound
from node.chain.events import ChainEvent
from node.chain.interface import Chain
from node.engine.core import Engine, EngineContext
from node.engine.models.records import model_by_ref
from node.engine.requester.auction import Auction, awarded_event, checksum
from node.engine.requester.body import amount_of, duration_of
from node.engine.requester.delivery import Delivery, asks_for_input
from node.engine.requester.inputs import (
    ModelUnavailableError,
    decode_outputs,
    load_model,
    output_scale_of,
    prepare_input,
)
from node.engine.requester.jobs import RequesterJobs
from node.engine.requester.network import RequesterNetwork
from node.engine.requester.recovery import owed_actions
from node.engine.requester.settlement import Resubmission, Settlement, Terms, split_deadline
from node.engine.requester.views import job_json
from node.p2p.config import DirectMessage
from node.p2p.gossip import GossipMessage
from node.store import BidDirection, BidSource, BidStatus, IntentStatus, JobRecord, Role, Store
from protocol import zkml
from protocol.market import RequesterJob, RequesterState
from protocol.market import actions as ma
from protocol.market.planning import DEFAULT_BID_WINDOW_S
from protocol.market.requester import AWARDABLE, TERMINAL, GiveUp
from protocol.messages import Bid, Verified
from protocol.r1cs.system import R

logger = logging.getLogger(__name__)

S = RequesterState
# Warnings for a job about to be submitted: (model id, constraints, max fee) -> messages.
Advice = Callable[[int, int, int], list[str]]
# A typical prover's rate, constraints per second: provernet's pure backend proves a
# 2^14 circuit cold in 12.7 s (bench/results/proving.md), about 1,300 a second.
TYPICAL_RATE = 1_000
# The transaction each sending state waits for: (intent kind, which attempt of it).
_TX_OF: dict[S, tuple[str, Callable[[RequesterJob], int]]] = {
    S.CREATING: ("create_job", lambda job: 0),
    S.AWARDING: ("award_job", lambda job: job.awards),
    S.CANCELLING: ("cancel_job", lambda job: 0),
    S.SLASHING: ("slash", lambda job: job.slashes),
}
_BIDDING = (S.CREATED, S.ANNOUNCED, S.REOPENED)
_CHAIN_EVENTS = ("JobCreated", "JobAwarded", "AwardLapsed", "JobAccepted", "ProofAccepted",
                 "ProverSlashed", "JobCancelled")  # fmt: skip


class RequesterRole:
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
        bid_window_s: int = DEFAULT_BID_WINDOW_S,
        resubmit: Resubmission | None = None,
        ensure_model: Callable[[int], Awaitable[Path]] | None = None,
        keep_inputs: bool = False,
        advice: Advice | None = None,
    ) -> None:
        self.chain, self.network, self.models_dir = chain, network, models_dir
        self.market = bytes.fromhex(market[2:])
        self.default_collateral, self.default_deadline_s = default_collateral, default_deadline_s
        self.ensure_model = ensure_model
        self.advice = advice  # warnings from the provers' heartbeats (known_provers.py)
        self.jobs = RequesterJobs(clock, keep_inputs=keep_inputs, resubmitting=bool(resubmit))
        self.auction = Auction(self.jobs, chain, network, self.market, bid_window_s=bid_window_s)
        self.delivery = Delivery(self.jobs, network)
        self.settlement = Settlement(
            self.jobs,
            chain,
            resubmit=resubmit,
            circuit_dir=self._circuit_dir,
            typical_rate=TYPICAL_RATE,
        )
        self._scales: dict[int, int] = {}
        self._ticked = False

    @property
    def clock(self) -> Callable[[], float]:
        return self.jobs.clock

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
        for name in _CHAIN_EVENTS:
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
        self._check_setup(ctx.store, model_id, info.ceremony_id, body)
        max_fee = amount_of(body, "max_fee", None)
        collateral = amount_of(body, "collateral", self.default_collateral)
        deadline_s = duration_of(body.get("deadline"), self.default_deadline_s)
        windows = split_deadline(
            deadline_s,
            _optional_duration(body, "bid_window"),
            _optional_duration(body, "accept_window"),
        )
        terms = Terms(max_fee, collateral, *windows)
        prepared, scale = await trio.to_thread.run_sync(
            _prepare, circuit_dir, body.get("input"), secrets.randbelow(R)
        )
        self._scales[model_id] = scale
        key = self.settlement.open_job(ctx, model_id, prepared, terms)
        answer = self._json(ctx.store, key)
        n = info.constraint_count
        heard = [] if self.advice is None else self.advice(model_id, n, max_fee)
        answer["warnings"] = heard + self.settlement.advice(n, terms)
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
        log = self.jobs.logs.get(key) or self.jobs.log(key, self.jobs.job(ctx.store, key))
        try:
            after, timeout = int(body.get("after", 0)), float(body.get("timeout", 25.0))
        except (TypeError, ValueError) as exc:
            raise BadRequest("after and timeout must be numbers") from exc
        page = await log.wait_since(max(0, after), min(max(0.0, timeout), 55.0))
        return page.to_json()

    async def cancel(self, ctx: EngineContext, body: Mapping[str, Any]) -> dict[str, Any]:
        """Cancel a job no prover holds: unawarded, or its award lapsed, or re-opened."""
        key = self._key(ctx.store, body)
        job = self.jobs.job(ctx.store, key)
        if job.state not in AWARDABLE:
            raise Conflict(
                f"job {key} is {job.state.value}; a job can be cancelled only while no prover "
                "holds it (before an award, or once an award lapsed or a prover was slashed)"
            )
        if job.state is S.LAPSED:
            assert job.accept_deadline is not None
            chain_now = await trio.to_thread.run_sync(self.chain.timestamp)
            if chain_now <= job.accept_deadline:
                raise Conflict(
                    f"the award of job {key} lapses on-chain after {job.accept_deadline}; "
                    "the chain's clock is not there yet: try again in a few seconds"
                )
        if self.jobs.busy[key]:
            raise Conflict(f"job {key} has a transaction in flight; try again in a few seconds")
        self.jobs.advance(ctx, key, GiveUp("cancelled by the requester"))
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
        if asks_for_input(record.job, bid):  # our awarded prover lost its input (delivery.py)
            self.jobs.perform(ctx, record.key, (ma.DeliverInput(bid.prover),))
            return
        if not new:
            return
        job = record.job
        assert isinstance(job, RequesterJob)
        if job.state in TERMINAL:
            problem = f"the job is {job.state.value}; it takes no more bids"
            ctx.store.set_bid_status(bid_key, BidStatus.INVALID, problem)
            return
        self.auction.spawn_judge(ctx, record, bid_key, bid)

    def on_chain_event(self, ctx: EngineContext, event: ChainEvent) -> None:
        """Advance our job named by a JobMarket event (a replay finds it moved on)."""
        if event.name == "JobCreated":
            self._on_created_event(ctx, event)
            return
        record = ctx.store.find_job(int(event.args["jobId"]), Role.REQUESTER)
        if record is None:
            return
        key, args = record.key, event.args
        if event.name == "ProofAccepted":
            self._on_proof(ctx, record, event)
        elif event.name == "JobAwarded":
            step = awarded_event(args)
            if self.jobs.advance(ctx, key, step, defer=True) is not None:
                # The award's own answer was lost (a crash): the event names the winner.
                self.auction.mark_winner(ctx.store, int(args["jobId"]), step.prover, step.fee)
        elif event.name == "JobAccepted":
            prover = bytes.fromhex(str(args["prover"])[2:])
            accepted = ma.ChainJobAccepted(prover, int(args["proofDeadline"]))
            if self.jobs.advance(ctx, key, accepted, defer=True) is not None:
                self.jobs.note(key, "accepted", prover=checksum(prover),
                               proof_deadline=accepted.proof_deadline)  # fmt: skip
        elif event.name == "AwardLapsed":
            self.jobs.note(key, "award lapsed", prover=str(args["prover"]))
        elif event.name == "ProverSlashed":
            self.jobs.note(key, "prover slashed", prover=str(args["prover"]),
                           burned=str(args["collateral"]))  # fmt: skip
            self.jobs.advance(ctx, key, ma.ChainProverSlashed(), defer=True)
        else:
            self.jobs.advance(ctx, key, ma.ChainJobCancelled(), defer=True)

    def _on_created_event(self, ctx: EngineContext, event: ChainEvent) -> None:
        # Only a job whose createJob result was lost (a crash) is still CREATING here.
        for record in ctx.store.list_jobs(Role.REQUESTER, [S.CREATING.value]):
            sent = [i.tx_hash for i in ctx.store.intents_for_job(record.key)]
            if event.tx_hash.lower() in sent:
                created = ma.ChainJobCreated(int(event.args["jobId"]))
                self.jobs.advance(ctx, record.key, created, defer=True)

    def _on_proof(self, ctx: EngineContext, record: JobRecord, event: ChainEvent) -> None:
        if self.jobs.advance(ctx, record.key, ma.ChainProofAccepted(), defer=True) is None:
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
        self.jobs.note(record.key, "result", output=output, tx=event.tx_hash)

    # -- the clock ------------------------------------------------------------

    async def on_tick(self, ctx: EngineContext, _trio_now: float) -> None:
        """Deadlines, the award at the window's close, re-awards, retries of what failed."""
        now = self.clock()
        first, self._ticked = not self._ticked, True
        for record in ctx.store.list_jobs(Role.REQUESTER):
            job = record.job
            assert isinstance(job, RequesterJob)
            if self.jobs.busy[record.key]:
                continue
            if job.state in TERMINAL:
                if first and record.key not in self.jobs.stepped:  # settled in an earlier run
                    owed = owed_actions(ctx.store, record.key, job,
                                        resubmitting=self.jobs.resubmitting)  # fmt: skip
                    self.jobs.perform(ctx, record.key, owed)
                continue
            await self._tick_job(ctx, record.key, job, now)

    async def _tick_job(self, ctx: EngineContext, key: int, job: RequesterJob, now: float) -> None:
        if job.state in _TX_OF:
            kind, attempt = _TX_OF[job.state]
            if self.jobs.tx_failed(ctx.store, key, kind, attempt(job)):
                self.jobs.advance(ctx, key, ma.TxFailed("the transaction failed or was never sent"))
                return
        ready = now >= self.jobs.retry_at.get(key, 0.0)
        if job.state in _BIDDING:
            if self.auction.announce_due(key, job, now):
                self.jobs.perform(ctx, key, (ma.Announce(),))
            self.auction.judge_pending(ctx, ctx.store.get_job(key), now)
            closed = ready and now >= job.bid_deadline
            if closed and await self.auction.choose(ctx, key, job, int(now)):
                return
        if job.state is S.AWARDED and self.delivery.due(key, now):
            assert job.prover is not None
            self.jobs.perform(ctx, key, (ma.DeliverInput(job.prover),))
        if job.state in (S.LAPSED, S.SLASHED):
            if ready:
                await self.auction.after_failure(ctx, key, job, int(now))
            return
        if ready:
            self.jobs.advance(ctx, key, ma.Tick(), now=int(now))

    # -- helpers --------------------------------------------------------------

    def _model(self, store: Store, raw: object) -> tuple[int, Path]:
        if not isinstance(raw, str | int) or isinstance(raw, bool) or str(raw) == "":
            raise BadRequest("the request needs a model: a registered model's name or id")
        text = str(raw)
        known = model_by_ref(store, text)
        if known is None and not text.isdigit():
            raise NotFound(f"no model named {text!r} is known here; use its on-chain id")
        model_id = int(text) if known is None else known.model_id
        return model_id, self._circuit_dir(store, model_id)

    def _check_setup(
        self, store: Store, model_id: int, ceremony_id: int, body: Mapping[str, Any]
    ) -> None:
        """Refuse a model whose key this node has no reason to trust: one without a ceremony
        (the job market would refuse it too), a ceremony not verified here (unless
        ``trust_setup``), or, with ``require_own_contribution``, a ceremony this node's
        account did not contribute to."""
        flags = {k: body.get(k, False) for k in ("trust_setup", "require_own_contribution")}
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise BadRequest(f"{name} must be true or false")
        record = store.get_model(model_id)
        contributors = record.transcript if record is not None else None
        if flags["require_own_contribution"]:
            if contributors is None:
                raise Conflict(
                    f"model {model_id} has no ceremony this node verified, so it cannot hold "
                    "this node's contribution"
                )
            if self.chain.address not in contributors:
                raise Conflict(
                    f"this node ({self.chain.address}) is not among model {model_id}'s "
                    f"contributors ({', '.join(contributors)}); contribute to its next "
                    "ceremony with `provernet model contribute`, or drop "
                    "--require-own-contribution to trust those contributors"
                )
        if ceremony_id == 0:
            owner = record.owner if record is not None else "its registrant"
            raise Conflict(
                f"model {model_id}'s key comes from a single-party setup, not a ceremony: "
                f"its registrant ({owner}) could forge a proof of any output, so the job "
                "market takes no jobs for it. Use a model registered with a ceremony (see "
                "`provernet model list`)"
            )
        if contributors is not None or flags["trust_setup"]:
            return
        raise Conflict(
            f"model {model_id}'s ceremony {ceremony_id} has not been verified here; fetch "
            "the model again (the node verifies its transcript when it fetches it)"
        )

    def _circuit_dir(self, store: Store, model_id: int) -> Path:
        """Where the model's circuit is kept: as the store says, else home models/<id>/."""
        model = store.get_model(model_id)
        held = model.circuit_dir if model and model.circuit_dir else None
        return Path(held) if held else self.models_dir / str(model_id)

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

    def _txs(self, store: Store, record: JobRecord) -> dict[str, Any]:
        """The job's mined transactions: the last of each kind, and every award and slash."""
        found: dict[str, Any] = {"create": None, "award": None, "cancel": None, "slash": None,
                                 "proof": record.proof_tx, "awards": [], "slashes": []}  # fmt: skip
        names = {"create_job": "create", "award_job": "award", "cancel_job": "cancel",
                 "slash": "slash"}  # fmt: skip
        for intent in store.intents_for_job(record.key):
            if intent.kind in names and intent.status is IntentStatus.MINED:
                found[names[intent.kind]] = intent.tx_hash
                if intent.kind in ("award_job", "slash"):
                    found["awards" if intent.kind == "award_job" else "slashes"].append(
                        intent.tx_hash
                    )
        return found

    def _json(self, store: Store, key: int) -> dict[str, Any]:
        record = store.get_job(key)
        return job_json(store, record, self._txs(store, record))


def _optional_duration(body: Mapping[str, Any], name: str) -> int | None:
    raw = body.get(name)
    return None if raw is None else duration_of(raw, 0)


def _prepare(circuit_dir: Path, raw: Any, salt: int) -> tuple[Any, int]:
    try:
        model = load_model(circuit_dir)
        return prepare_input(model, raw, salt), model.output_scale
    except ModelUnavailableError as exc:
        raise Conflict(str(exc)) from exc
    except zkml.InputError as exc:
        message = f"the input does not fit the model: {exc}"
        raise HttpError(message, status=400, code="input_rejected") from exc
