"""The requester's jobs: step a lifecycle, save it, then hand its actions to the stages.

``RequesterJobs`` owns what every stage of the requester shares: the clock, the
per-job event logs behind ``job watch``, which jobs have work in flight (the tick
leaves those alone), and when a refused step may be retried. ``advance`` is the
only way a job changes: ``requester_step``, then the store (ARCHITECTURE invariant
4), then each action goes to the stage registered for its type (``handle``) and
runs as an engine task. A private input is deleted as soon as nobody can need it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from node.api.events import EventLog
from node.engine.core import EngineContext
from node.store import IntentStatus, Store
from protocol.market import IllegalTransition, RequesterJob, RequesterState, requester_step
from protocol.market import actions as ma
from protocol.market.requester import TERMINAL

logger = logging.getLogger(__name__)

S = RequesterState
Work = Callable[[], Awaitable[object]]
# A stage's answer to an action of job ``key``: the work to run, or None for nothing.
ActionHandler = Callable[[EngineContext, int, Any], Work | None]
_FAILED = (IntentStatus.FAILED, IntentStatus.REVERTED, IntentStatus.DROPPED)


class RequesterJobs:
    """Stepping, saving and acting on the requester's jobs."""

    def __init__(self, clock: Callable[[], float], *, keep_inputs: bool, resubmitting: bool):
        self.clock = clock
        self.keep_inputs = keep_inputs  # else a private input is deleted once the job settles
        self.resubmitting = resubmitting
        self.logs: dict[int, EventLog] = {}
        self.busy: Counter[int] = Counter()
        self.retry_at: dict[int, float] = {}
        self.stepped: set[int] = set()  # jobs whose actions this run has taken
        self._handlers: dict[type[ma.Action], ActionHandler] = {}

    def handle(self, action: type[ma.Action], handler: ActionHandler) -> None:
        """Let ``handler`` perform every ``action`` the lifecycle asks for."""
        self._handlers[action] = handler

    def job(self, store: Store, key: int) -> RequesterJob:
        """The stored lifecycle of job ``key``."""
        job = store.get_job(key).job
        assert isinstance(job, RequesterJob)
        return job

    def advance(
        self,
        ctx: EngineContext,
        key: int,
        event: ma.Event,
        *,
        now: int | None = None,
        defer: bool = False,
    ) -> RequesterJob | None:
        """Step job ``key``, save it, then act; None when ``event`` does not apply now."""
        current = self.job(ctx.store, key)
        try:
            job, actions = requester_step(current, event, int(self.clock()) if now is None else now)
        except IllegalTransition as exc:
            logger.debug("job %d: %s", key, exc)
            return None
        self.stepped.add(key)
        if job != current:
            ctx.store.save_job(key, job)
            if job.state is not current.state:
                self.log(key, job)
            if self._input_done(job) and not self.keep_inputs:
                ctx.store.forget_input(key)
        self.perform(ctx, key, actions, defer=defer)
        return job

    def perform(
        self, ctx: EngineContext, key: int, actions: tuple[ma.Action, ...], *, defer: bool = False
    ) -> None:
        """Run each action's work as a task (after the chain batch commits, with ``defer``)."""
        for action in actions:
            handler = self._handlers.get(type(action))
            work = None if handler is None else handler(ctx, key, action)
            if work is None:
                continue
            run = work
            if not isinstance(action, ma.Announce):  # gossip may stall; it must not hold a job
                self.busy[key] += 1
                run = self.released(key, work)
            (ctx.defer if defer else ctx.spawn)(run)

    def released(self, key: int, work: Work) -> Work:
        """``work``, marking job ``key`` busy until it ends (count it busy before calling)."""

        async def run() -> None:
            try:
                await work()
            finally:
                self.busy[key] -= 1
                if self.busy[key] <= 0:
                    del self.busy[key]

        return run

    def _input_done(self, job: RequesterJob) -> bool:
        """Whether nobody will need the job's private input again (no delivery, no retry)."""
        if job.state in (S.PROVEN, S.RESUBMITTED, S.ABANDONED):
            return True
        return job.state is S.CANCELLED and not self.resubmitting

    def tx_failed(self, store: Store, key: int, kind: str, attempt: int = 0) -> bool:
        """Whether every journaled ``kind`` transaction of job ``key`` of that ``attempt``
        failed (or none exists)."""
        intents = [i for i in store.intents_for_job(key) if i.kind == kind and i.attempt == attempt]
        return not any(i.status not in _FAILED for i in intents)

    # -- the job's event log (job watch) ---------------------------------------

    def log(self, key: int, job: RequesterJob) -> EventLog:
        """Job ``key``'s event log, with its (new) state appended."""
        log = self.logs.setdefault(key, EventLog())
        if not log.closed:
            log.append({"kind": "state", "state": job.state.value, "job_id": job.job_id})
            if job.state in TERMINAL and not (job.state is S.CANCELLED and self.resubmitting):
                log.close()  # a cancelled job stays open until its resubmission is decided
        return log

    def close_log(self, key: int) -> None:
        """End job ``key``'s event log (its watchers stop)."""
        if key in self.logs:
            self.logs[key].close()

    def note(self, key: int, kind: str, **details: Any) -> None:
        """Append an event of ``kind`` to job ``key``'s log."""
        log = self.logs.get(key)
        if log is not None and not log.closed:
            log.append({"kind": kind, **details})
