"""The prover's jobs: step a lifecycle, save it, then hand its actions to the stages.

``ProverJobs`` is what every stage of the prover shares: the clock, the account we
prove as, the reasons jobs were declined or failed (shown by the API), and the queue
the planner sees. ``advance`` is the only way a job changes: ``prover_step``, then the
store (ARCHITECTURE invariant 4), then each action goes to the stage registered for
its type (``handle``): spawned as an engine task, or after the chain batch commits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from node.engine.core import EngineContext
from node.store import JobRecord, Role, Store
from protocol.market import IllegalTransition, ProverJob, ProverState, prover_step
from protocol.market import actions as ma
from protocol.market.planning import QueuedJob

logger = logging.getLogger(__name__)

S = ProverState
Work = Callable[[], Awaitable[object]]
# A stage's answer to an action of job ``key``: the work to run, or None (done in place).
ActionHandler = Callable[[EngineContext, int, Any], Work | None]
# A bid may still be awarded until it expires: it holds a place in the plan until then.
ACTIVE = (S.BID, S.WON, S.ACCEPTING, S.ACCEPTED, S.PROVING, S.SUBMITTED)
# Jobs won and not yet settled: each holds one of the capacity's slots.
HELD = (S.WON, S.ACCEPTING, S.ACCEPTED, S.PROVING, S.SUBMITTED)
# Jobs whose collateral is locked (or about to be): what a new acceptance must not endanger.
COMMITTED = (S.ACCEPTING, S.ACCEPTED, S.PROVING, S.SUBMITTED)


def prover_job(record: JobRecord) -> ProverJob:
    """The lifecycle object of a prover's stored job."""
    job = record.job
    assert isinstance(job, ProverJob)
    return job


class ProverJobs:
    """Stepping, saving and acting on the prover's jobs."""

    def __init__(self, clock: Callable[[], float], me: bytes) -> None:
        self.clock, self.me = clock, me
        self.reasons: dict[int, str] = {}  # why a job was declined, refused or failed
        self._handlers: dict[type[ma.Action], ActionHandler] = {}

    def handle(self, action: type[ma.Action], handler: ActionHandler) -> None:
        """Let ``handler`` perform every ``action`` the lifecycle asks for."""
        self._handlers[action] = handler

    def records(self, store: Store, states: tuple[ProverState, ...]) -> list[JobRecord]:
        """Our jobs in ``states``, oldest first."""
        return store.list_jobs(Role.PROVER, [s.value for s in states])

    def queue(self, store: Store, states: tuple[ProverState, ...] = ACTIVE) -> list[QueuedJob]:
        """Jobs in ``states`` as the planner sees them: ready now once won, else when the
        award could come (the bid deadline, with the input delivered after it)."""
        now = int(self.clock())
        queue = []
        for record in self.records(store, states):
            job = prover_job(record)
            ready = now if job.state is not S.BID else job.job.bid_deadline
            queue.append(QueuedJob(job.job.job_id, job.job.constraint_count,
                                   job.work_deadline, ready))  # fmt: skip
        return queue

    def advance(
        self,
        ctx: EngineContext,
        key: int,
        event: ma.Event,
        *,
        now: int | None = None,
        defer: bool = False,
    ) -> ProverJob | None:
        """Step job ``key``, save it, then act; None when ``event`` does not apply now."""
        current = prover_job(ctx.store.get_job(key))
        try:
            job, actions = prover_step(current, event, int(self.clock()) if now is None else now)
        except IllegalTransition as exc:
            logger.debug("prover job %d: %s", key, exc)
            return None
        if job != current:
            ctx.store.save_job(key, job)
        for action in actions:
            self._act(ctx, key, action, defer)
        return job

    def _act(self, ctx: EngineContext, key: int, action: ma.Action, defer: bool) -> None:
        if isinstance(action, ma.ForgetInput):
            ctx.store.forget_input(key)
            return
        if isinstance(action, ma.ReportFailure):
            self.reasons[key] = action.reason
            logger.error("prover job %d: %s", key, action.reason)
            return
        handler = self._handlers.get(type(action))
        work = None if handler is None else handler(ctx, key, action)
        if work is not None:
            (ctx.defer if defer else ctx.spawn)(work)
