"""Admission to the market topics by on-chain standing.

Signatures cost nothing to make: a key pair per message is free, so gossip is
admitted by what costs money on-chain. ``ChainAdmission.topics()`` gives the
gossip layer (node.p2p.market_topics) one check per topic:

- heartbeats and bids: the signer has at least ``min_stake`` in ProverStaking;
- job announcements: the job exists on-chain and its requester signed it;
- model announcements: the model is registered.

Answers come from a cache fed two ways: the chain events the engine applies
(StakeDeposited carries the new stake, JobCreated the requester, ModelRegistered
the model; withdrawals and slashes drop the cached stake so it is read again), and
RPC reads for what the events have not told us (stake from before this node
started, a job created a block ago). Reads are coalesced per key, at most
``MAX_READS`` run at once, each within ``READ_TIMEOUT_S``, and new keys are read
at most ``READS_PER_S`` on average: a flood of throwaway keys costs us a bounded
number of RPC calls and then ``AdmissionUndecided`` (dropped, nobody penalised),
while every account already known keeps passing. A failed read keeps a stale
positive answer; negative answers expire quickly (``NEGATIVE_TTL_S``) so a new
stake or job is seen at once by the events and soon by the reads.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import trio
from eth_utils.address import to_checksum_address

from node.bounds import Bounds
from node.chain.events import ChainEvent
from node.chain.interface import Chain
from node.engine.core import Engine, EngineContext
from node.p2p.gossip import (
    BIDS_TOPIC,
    HEARTBEATS_TOPIC,
    JOBS_TOPIC,
    MODELS_TOPIC,
    AdmissionUndecided,
    NotAdmitted,
)
from node.p2p.peers import TokenBucket
from node.p2p.records import Admit
from protocol.messages import JobAnnouncement, ModelAnnouncement, Verified

logger = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

# 0.01 ether locked per identity: 100 flooding identities lock 1 ether for the
# withdrawal delay. The operator may raise it (p2p.min_peer_stake).
DEFAULT_MIN_STAKE = 10**16
# A stake read stays good this long unless an event says it changed.
STAKE_TTL_S = 300.0
# "Not staked", "no such job": asked again after this long.
NEGATIVE_TTL_S = 10.0
# Entries per cache; the oldest goes first (and is read again if it speaks again).
CACHE_SIZE = 20_000
MAX_READS = 4
READ_TIMEOUT_S = 3.0
READS_PER_S = 20.0
READ_BURST = 100.0


@dataclass
class _Entry(Generic[V]):
    value: V
    until: float  # monotonic time after which it is read again


class _Cache(Generic[K, V]):
    """A bounded map with expiry; the oldest entry goes when it is full."""

    def __init__(self, name: str, bounds: Bounds, size: int = CACHE_SIZE) -> None:
        self.name, self.bounds, self.size = name, bounds, size
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> _Entry[V] | None:
        return self._entries.get(key)

    def put(self, key: K, value: V, until: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = _Entry(value, until)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
            self.bounds.hit(self.name, f"{self.size} entries")

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)


class ChainAdmission:
    """Who may publish on each market topic; see the module docstring."""

    def __init__(
        self,
        chain: Chain,
        *,
        min_stake: int = DEFAULT_MIN_STAKE,
        bounds: Bounds | None = None,
        clock: Callable[[], float] = time.monotonic,
        reads_per_s: float = READS_PER_S,
        read_burst: float = READ_BURST,
    ) -> None:
        self.chain, self.min_stake, self._clock = chain, min_stake, clock
        self.bounds = bounds or Bounds()
        self.stakes: _Cache[bytes, int] = _Cache("admission_stakes", self.bounds)
        self.jobs: _Cache[int, bytes] = _Cache("admission_jobs", self.bounds)
        self.models: _Cache[int, bool] = _Cache("admission_models", self.bounds)
        self._budget = TokenBucket(reads_per_s, read_burst, read_burst, clock())
        self._reads = trio.Semaphore(MAX_READS)
        self._inflight: dict[tuple[str, Any], trio.Event] = {}
        self.rpc_reads = 0

    def topics(self) -> dict[str, Admit]:
        """The check of each market topic, for node.p2p.market_topics."""
        return {
            HEARTBEATS_TOPIC: self.staked_signer,
            BIDS_TOPIC: self.staked_signer,
            JOBS_TOPIC: self.job_on_chain,
            MODELS_TOPIC: self.registered_model,
        }

    def register(self, engine: Engine) -> None:
        """Learn stakes, jobs and models from the chain events the engine applies."""
        engine.on_event("ProverStaking", "StakeDeposited", self._on_deposit)
        for name in ("WithdrawalRequested", "StakeWithdrawn", "CollateralSlashed"):
            engine.on_event("ProverStaking", name, self._on_stake_change)
        engine.on_event("JobMarket", "JobCreated", self._on_job)
        engine.on_event("ModelRegistry", "ModelRegistered", self._on_model)

    # -- the checks --------------------------------------------------------------

    async def staked_signer(self, verified: Verified) -> None:
        """The signer must hold at least ``min_stake``."""
        account = verified.sender
        stake = await self._lookup(self.stakes, "stake", account, self._read_stake)
        if stake < self.min_stake:
            raise NotAdmitted(
                f"0x{account.hex()} has {stake} wei of stake; this node admits provers "
                f"with at least {self.min_stake}"
            )

    async def job_on_chain(self, verified: Verified) -> None:
        """The announced job must exist on-chain with the signer as its requester."""
        job = verified.message
        assert isinstance(job, JobAnnouncement)
        requester = await self._lookup(self.jobs, "job", job.job_id, self._read_job)
        if requester != verified.sender:
            raise NotAdmitted(f"job {job.job_id} is not on-chain with 0x{verified.sender.hex()} "
                              "as its requester")  # fmt: skip

    async def registered_model(self, verified: Verified) -> None:
        """The announced model must be registered."""
        model = verified.message
        assert isinstance(model, ModelAnnouncement)
        if not await self._lookup(self.models, "model", model.model_id, self._read_model):
            raise NotAdmitted(f"model {model.model_id} is not registered")

    # -- chain events ------------------------------------------------------------

    def _on_deposit(self, ctx: EngineContext, event: ChainEvent) -> None:
        account = _address(event.args["prover"])
        self.stakes.put(account, int(event.args["stake"]), self._clock() + STAKE_TTL_S)

    def _on_stake_change(self, ctx: EngineContext, event: ChainEvent) -> None:
        self.stakes.drop(_address(event.args["prover"]))

    def _on_job(self, ctx: EngineContext, event: ChainEvent) -> None:
        self.jobs.put(int(event.args["jobId"]), _address(event.args["requester"]), float("inf"))

    def _on_model(self, ctx: EngineContext, event: ChainEvent) -> None:
        self.models.put(int(event.args["modelId"]), True, float("inf"))

    # -- reads -------------------------------------------------------------------

    async def _lookup(
        self, cache: _Cache[K, V], kind: str, key: K, read: Callable[[K], tuple[V, bool]]
    ) -> V:
        entry = cache.get(key)
        if entry is not None and entry.until > self._clock():
            return entry.value
        flight = (kind, key)
        if flight in self._inflight:  # someone is reading it: share the answer
            await self._inflight[flight].wait()
            fresh = cache.get(key)
            if fresh is not None:
                return fresh.value
            raise AdmissionUndecided(f"reading the {kind} {key!r} from the chain failed")
        if not self._budget.take(self._clock()):
            if entry is not None:
                return entry.value  # stale, but better than refusing a known account
            raise AdmissionUndecided(f"the chain-read budget is spent; {kind} {key!r} unknown")
        done = self._inflight[flight] = trio.Event()
        try:
            async with self._reads:
                with trio.move_on_after(READ_TIMEOUT_S):
                    value, positive = await trio.to_thread.run_sync(
                        read,
                        key,
                        abandon_on_cancel=True,  # type: ignore[call-arg]
                    )
                    self.rpc_reads += 1
                    ttl = (STAKE_TTL_S if kind == "stake" else float("inf")) if positive else 0.0
                    cache.put(key, value, self._clock() + (ttl or NEGATIVE_TTL_S))
                    return value
        except Exception as exc:  # the RPC away, or a provider error
            logger.debug("admission: reading the %s %r failed: %r", kind, key, exc)
        finally:
            del self._inflight[flight]
            done.set()
        if entry is not None:
            return entry.value
        raise AdmissionUndecided(f"the {kind} {key!r} could not be read from the chain")

    def _read_stake(self, account: bytes) -> tuple[int, bool]:
        stake = self.chain.stake_of(to_checksum_address("0x" + account.hex())).stake
        return stake, stake >= self.min_stake

    def _read_job(self, job_id: int) -> tuple[bytes, bool]:
        if job_id >= self.chain.job_count() + 1 or job_id <= 0:
            return bytes(20), False
        requester = _address(self.chain.get_job(job_id).requester)
        return requester, requester != bytes(20)

    def _read_model(self, model_id: int) -> tuple[bool, bool]:
        if model_id <= 0 or model_id > self.chain.model_count():
            return False, False
        return True, True


def _address(value: object) -> bytes:
    return bytes.fromhex(str(value).removeprefix("0x").lower())
