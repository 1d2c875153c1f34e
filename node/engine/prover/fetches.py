"""The prover's model fetches: each in a task of its own, waited for with a limit.

A bidding decision that needs a model it does not hold starts its fetch
(``ModelFetches.wait``) and waits at most a few seconds; a fetch still running then
leaves the decision for later (``NotYet``) while the download goes on, so a slow
model server never holds up the engine, other decisions, or the input of a job
already won. The download's own time and size budgets come from the registry's
data (node.engine.models: the registered manifest's file sizes). A failed fetch
is remembered for ``RETRY_FAILED_S``: the decisions in that time decline at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from node.engine.core import EngineContext

logger = logging.getLogger(__name__)

# A model whose fetch failed is not asked for again before this.
RETRY_FAILED_S = 60.0


class NotYet(Exception):  # noqa: N818 (named for the answer)
    """The decision cannot be taken yet (the model still downloading, the RPC away)."""


class ModelFetchError(Exception):
    """The model could not be fetched; the message says why."""


@dataclass
class _Failure:
    reason: str
    retry_at: float


class ModelFetches:
    """Fetch tasks per model id, started by the decisions that need them."""

    def __init__(
        self, ensure: Callable[[int], Awaitable[Path]], clock: Callable[[], float]
    ) -> None:
        self._ensure, self._clock = ensure, clock
        self.held: dict[int, Path] = {}
        self.running: dict[int, trio.Event] = {}
        self._failed: dict[int, _Failure] = {}

    async def wait(self, ctx: EngineContext, model_id: int, timeout_s: float) -> Path:
        """The model's circuit directory; NotYet if its fetch outlasts ``timeout_s``."""
        if model_id in self.held:
            return self.held[model_id]
        failure = self._failed.get(model_id)
        if failure is not None and self._clock() < failure.retry_at:
            raise ModelFetchError(failure.reason)
        done = self.running.get(model_id)
        if done is None:
            done = self.running[model_id] = trio.Event()
            ctx.spawn(lambda: self._fetch(model_id, done))
        with trio.move_on_after(timeout_s):
            await done.wait()
        if model_id in self.held:
            return self.held[model_id]
        if model_id not in self.running and model_id in self._failed:
            raise ModelFetchError(self._failed[model_id].reason)
        raise NotYet(f"model {model_id} is still being fetched")

    async def _fetch(self, model_id: int, done: trio.Event) -> None:
        try:
            self.held[model_id] = await self._ensure(model_id)
            self._failed.pop(model_id, None)
        except Exception as exc:  # no peer serving it, a corrupt artifact, the RPC away
            logger.info("model %d could not be fetched: %s", model_id, exc)
            self._failed[model_id] = _Failure(str(exc), self._clock() + RETRY_FAILED_S)
        finally:
            del self.running[model_id]
            done.set()
