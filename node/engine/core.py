"""The engine's core loop: one task consuming the merged stream of the daemon's inputs.

Inputs arrive on one memory channel (``Engine.inputs``): p2p messages
(``node.p2p.Inbound``), chain event batches (``ChainBatch``), API commands
(``Command``) and timer ticks (``Tick``). The loop handles them in arrival order:

- ``ChainBatch``: every confirmed event not applied before goes to the handlers
  registered for its (contract, event name), then the cursor moves, all in ONE
  store transaction; the batch's ``applied`` event is set afterwards. Event
  handlers are synchronous (store writes only); follow-up work they ``defer``
  starts after the commit.
- ``Inbound``: the handlers registered for the payload's type (the message inside
  a verified envelope, or the decoded message itself), awaited in turn. A
  ``RemoteProtocolError`` from a handler drops the message (logged at debug).
- ``Command``: its handler runs as a task of its own (a deposit waits for mining
  without stalling the loop); the answer or the error goes back to the caller.
- ``Tick``: open intents are reconciled (in a task, unless a send is in flight),
  then every tick handler is awaited.

Before the loop reads its first input, ``run`` reconciles every open intent with
the chain (node.engine.intents), so nothing is decided on a stale journal.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from node.chain.events import ChainEvent, EventBatch
from node.engine.intents import IntentExecutor
from node.p2p.config import DirectMessage
from node.p2p.gossip import GossipMessage
from node.store import ChainCursor, Store
from protocol.errors import RemoteProtocolError
from protocol.messages import Verified

if TYPE_CHECKING:
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)

# Inputs waiting for the loop; the p2p edge drops gossip when its own channel fills.
INPUT_BUFFER = 256
# How often open intents are rechecked and tick handlers run: a block on most chains
# is 2-12 s, so a second never lags a settlement by more than a block.
DEFAULT_TICK_S = 1.0


@dataclass(frozen=True)
class Tick:
    """The timer: trio's clock now."""

    now: float


@dataclass
class ChainBatch:
    """Confirmed events from the chain sync task; ``applied`` is set once they are stored."""

    batch: EventBatch
    applied: trio.Event = field(default_factory=trio.Event)


@dataclass
class Command:
    """An API command for the engine; the caller awaits ``Engine.call``."""

    name: str
    body: Mapping[str, Any]
    done: trio.Event = field(default_factory=trio.Event)
    answer: Any = None
    error: BaseException | None = None


EngineInput = GossipMessage | DirectMessage | ChainBatch | Command | Tick
EventHandler = Callable[["EngineContext", ChainEvent], None]
MessageHandler = Callable[["EngineContext", GossipMessage | DirectMessage], Awaitable[None]]
CommandHandler = Callable[["EngineContext", Mapping[str, Any]], Awaitable[Any]]
TickHandler = Callable[["EngineContext", float], Awaitable[None]]


@dataclass(frozen=True)
class Exposed:
    """An engine command served on the local API."""

    method: str
    path: str
    command: str


class UnknownCommandError(Exception):
    """No role registered a handler for this command."""


@dataclass
class EngineContext:
    """What handlers act with: the store, the journalled sender, and a way to defer work."""

    store: Store
    executor: IntentExecutor
    nursery: trio.Nursery
    _deferred: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    def defer(self, work: Callable[[], Awaitable[object]]) -> None:
        """Start ``work`` as a task once the current chain batch is committed."""
        self._deferred.append(work)

    def spawn(self, work: Callable[[], Awaitable[object]]) -> None:
        """Start ``work`` as a task of the engine now."""
        self.nursery.start_soon(work)


class Engine:
    """The market engine's core; roles register handlers (see node.engine)."""

    def __init__(
        self, store: Store, executor: IntentExecutor, *, tick_s: float = DEFAULT_TICK_S
    ) -> None:
        self.store, self.executor, self.tick_s = store, executor, tick_s
        self._send, self._receive = trio.open_memory_channel[EngineInput](INPUT_BUFFER)
        self._events: dict[tuple[str, str], list[EventHandler]] = {}
        self._messages: dict[type, list[MessageHandler]] = {}
        self._commands: dict[str, CommandHandler] = {}
        self._ticks: list[TickHandler] = []
        self.routes: list[Exposed] = []
        self.applied_events = 0

    @property
    def inputs(self) -> trio.MemorySendChannel[EngineInput]:
        """Where edge tasks put what the engine must handle (clone it per sender)."""
        return self._send

    # Registration (roles call these before ``run``)

    def on_event(self, contract: str, name: str, handler: EventHandler) -> None:
        """Call ``handler`` for each new confirmed ``contract``.``name`` event."""
        self._events.setdefault((contract, name), []).append(handler)

    def on_message(self, payload: type, handler: MessageHandler) -> None:
        """Await ``handler`` for each inbound message whose payload is a ``payload``."""
        self._messages.setdefault(payload, []).append(handler)

    def on_command(self, name: str, handler: CommandHandler) -> None:
        """Answer the command ``name`` (one handler per name)."""
        if name in self._commands:
            raise ValueError(f"the command {name!r} already has a handler")
        self._commands[name] = handler

    def on_tick(self, handler: TickHandler) -> None:
        """Await ``handler`` on every tick."""
        self._ticks.append(handler)

    def expose(self, method: str, path: str, command: str) -> None:
        """Serve ``command`` on the local API as ``method path`` (the daemon adds the route)."""
        self.routes.append(Exposed(method, path, command))

    # Callers

    async def call(self, name: str, body: Mapping[str, Any]) -> Any:
        """Run the command ``name`` in the engine; its answer, or its error re-raised."""
        if name not in self._commands:
            raise UnknownCommandError(f"no handler for the command {name!r}")
        command = Command(name, body)
        await self._send.send(command)
        await command.done.wait()
        if command.error is not None:
            raise command.error
        return command.answer

    # The loop

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile open intents, report ready, then handle inputs until cancelled."""
        await self.executor.reconcile_open()
        async with trio.open_nursery() as nursery:
            ctx = EngineContext(self.store, self.executor, nursery)
            nursery.start_soon(self._tick_loop)
            task_status.started()
            async for item in self._receive:
                await self._handle(ctx, item)

    async def _tick_loop(self) -> None:
        send = self._send.clone()
        async with send:
            while True:
                await trio.sleep(self.tick_s)
                await send.send(Tick(trio.current_time()))

    async def _handle(self, ctx: EngineContext, item: EngineInput) -> None:
        if isinstance(item, ChainBatch):
            self._apply(ctx, item.batch)
            item.applied.set()
            for work in ctx._deferred:
                ctx.spawn(work)
            ctx._deferred.clear()
        elif isinstance(item, Command):
            ctx.nursery.start_soon(self._run_command, ctx, item)
        elif isinstance(item, Tick):
            await self._tick(ctx, item.now)
        else:
            await self._dispatch(ctx, item)

    def _apply(self, ctx: EngineContext, batch: EventBatch) -> None:
        with self.store.transaction():
            for event in batch.events:
                if not event.confirmed:
                    continue
                if not self.store.record_event(
                    event.block_number, event.block_hash, event.log_index, event.tx_hash
                ):
                    continue  # applied before: a replay after a restart
                self.applied_events += 1
                for handler in self._events.get((event.contract, event.name), ()):
                    handler(ctx, event)
            self.store.set_cursor(ChainCursor(batch.next_block, batch.anchor))

    async def _run_command(self, ctx: EngineContext, command: Command) -> None:
        try:
            command.answer = await self._commands[command.name](ctx, command.body)
        except Exception as exc:
            command.error = exc
        finally:
            command.done.set()

    async def _tick(self, ctx: EngineContext, now: float) -> None:
        # Reconcile in a task of its own: RPC round trips must not stall the loop, and
        # while a send is in flight the executor is busy and the next tick will do.
        if not self.executor.busy and self.store.open_intents():
            ctx.spawn(self.executor.reconcile_open)
        for handler in self._ticks:
            await handler(ctx, now)

    async def _dispatch(self, ctx: EngineContext, item: GossipMessage | DirectMessage) -> None:
        payload = item.message.message if isinstance(item.message, Verified) else item.message
        handlers = self._messages.get(type(payload), ())
        if not handlers:
            logger.debug("no handler for %s; dropped", type(payload).__name__)
        for handler in handlers:
            try:
                await handler(ctx, item)
            except RemoteProtocolError as exc:
                logger.debug("dropped a %s: %s", type(payload).__name__, exc)
                return


async def forward(
    source: trio.MemoryReceiveChannel[Any], sink: trio.MemorySendChannel[EngineInput]
) -> None:
    """Pass every item of ``source`` (an edge's channel) into the engine's inputs."""
    async with source, sink:
        async for item in source:
            await sink.send(item)
