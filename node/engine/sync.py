"""The chain sync task: polls the head, hands confirmed event batches to the engine.

``ChainSync.run`` starts from the store's cursor (or the deployment block), asks
the chain for confirmed events every ``poll_interval_s`` (through a worker
thread: web3 is synchronous), sends each batch that covers new blocks to the
engine and waits until the engine has applied it and moved the cursor in the same
store transaction. ``head`` and ``processed`` are what ``node status`` and the
metrics show; a round reads no block past the head it read first, so
``processed <= head`` holds at every instant. An unreachable RPC is logged and
retried at the next poll; it never stops the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from node.chain.errors import ChainError, ChainReorg
from node.chain.events import EventBatch
from node.chain.interface import Chain
from node.chain.rpc import TRANSPORT_ERRORS
from node.engine.core import ChainBatch, EngineInput
from node.store import ChainCursor

if TYPE_CHECKING:
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)

# What a poll may fail with and survive: the RPC away, a provider error, a reorg.
CHAIN_FAILURES: tuple[type[BaseException], ...] = (ChainError, *TRANSPORT_ERRORS)


class ChainSync:
    """Feeds the engine the chain's confirmed events; see the module docstring."""

    def __init__(
        self,
        chain: Chain,
        engine_inputs: trio.MemorySendChannel[EngineInput],
        start: ChainCursor,
        *,
        poll_interval_s: float,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.chain, self._inputs = chain, engine_inputs
        self.next_block, self._anchor = start.next_block, start.anchor
        self.poll_interval_s = poll_interval_s
        self.on_progress = on_progress
        self.head = 0
        self.rounds = 0

    @property
    def processed(self) -> int:
        """The last block whose events the engine has applied."""
        return self.next_block - 1

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sync until cancelled; ready once the first round has caught up."""
        async with self._inputs:
            started = False
            while True:
                try:
                    await self.sync_once()
                except CHAIN_FAILURES as exc:
                    logger.warning("chain sync: %s; retrying in %g s", exc, self.poll_interval_s)
                else:
                    if not started:
                        task_status.started()
                        started = True
                await trio.sleep(self.poll_interval_s)

    async def sync_once(self) -> None:
        """One round: read the head and the confirmed events since the cursor; apply them."""
        head = await trio.to_thread.run_sync(self.chain.block_number)
        self.head = max(self.head, head)
        anchor, self._anchor = self._anchor, None  # the watcher keeps it from here on
        try:
            # Up to the head just read, never past it: blocks mined since then wait for
            # the next round, so ``processed`` never runs ahead of ``head``.
            batch = await trio.to_thread.run_sync(self._fetch, anchor, head)
        except ChainReorg as exc:
            logger.error("chain sync: %s", exc)
            raise
        if batch.next_block > self.next_block or batch.events:
            item = ChainBatch(batch)
            await self._inputs.send(item)
            await item.applied.wait()
            self.next_block = max(self.next_block, batch.next_block)
        self.rounds += 1
        if self.on_progress is not None:
            self.on_progress(self.head, self.processed)

    def _fetch(self, anchor: tuple[int, str] | None, head: int) -> EventBatch:
        return self.chain.events_since(self.next_block, head, anchor=anchor)
