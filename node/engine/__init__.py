"""The market engine: a core loop (core.py) and the roles that plug into it.

The engine sits in the middle of the daemon. Edge tasks feed it through one
memory channel (``Engine.inputs``): the p2p service's validated messages, the
chain sync task's confirmed event batches (sync.py), API commands and timer
ticks. It decides, writes the store, and moves money only through the
``IntentExecutor`` (intents.py): journal first, send in a worker thread, record
the outcome after; open intents are reconciled with the chain before the loop
starts and on every tick.

Extension points. A role (requester, prover, the stake commands in stake.py) is
an object with ``register(engine)``, called by the daemon before ``Engine.run``;
it keeps what it needs (chain, p2p service, config) from its constructor and
registers handlers:

``engine.on_message(PayloadType, handler)``
    ``async handler(ctx, inbound)`` for each p2p message whose payload (the
    message inside a verified envelope, e.g. ``protocol.messages.Bid``) has that
    type; ``inbound`` is the ``GossipMessage`` or ``DirectMessage``. Raise
    ``RemoteProtocolError`` to drop a bad message.
``engine.on_event("JobMarket", "JobAwarded", handler)``
    ``handler(ctx, event)`` (synchronous: store writes only) for each new
    confirmed event; it runs inside the store transaction that moves the chain
    cursor, exactly once per event even across crashes. Work that waits (a
    transaction, a proof) goes to ``ctx.defer(async_fn)``, started after commit.
``engine.on_command("job.submit", handler)``
    ``async handler(ctx, body) -> answer``, run as a task of its own; raise the
    API's ``HttpError`` subclasses for refusals the user should read.
``engine.on_tick(handler)``
    ``async handler(ctx, now)`` every ``tick_s`` (deadlines, bid windows, retries).

``engine.expose("POST", "/jobs", "job.submit")``
    serve a command on the local API; the daemon adds one route per exposed
    command (node.daemon.routes), whose body is the request's query, path
    parameters (``/jobs/{id:int}``) and JSON body merged.

In every handler ``ctx.store``
is the store (used from the trio thread only) and ``ctx.executor.execute(kind,
job_key, params, lambda chain: chain.award_job(...))`` is the only way to send a
money-moving transaction.
"""

from node.engine.core import (
    ChainBatch,
    Command,
    Engine,
    EngineContext,
    EngineInput,
    Exposed,
    Tick,
    UnknownCommandError,
    forward,
)
from node.engine.intents import IntentExecutor, IntentPendingError, Reconciled, TxLookup
from node.engine.stake import StakeCommands

__all__ = [
    "ChainBatch",
    "Command",
    "Engine",
    "EngineContext",
    "EngineInput",
    "Exposed",
    "IntentExecutor",
    "IntentPendingError",
    "Reconciled",
    "StakeCommands",
    "Tick",
    "TxLookup",
    "UnknownCommandError",
    "forward",
]
