"""``run_node``: the daemon, every service in one nursery.

Start-up, in order: hold the home's lock; load the key; connect the chain (the
chain id and the contracts' code are checked); open the store; then start, each
with ``nursery.start`` so it reports when ready:

1. the engine (it reconciles open intents with the chain first),
2. the p2p service (listen, bootstrap and the peers the store remembers, our signed
   peer record), the task recording connected peers in the store, and the task
   forwarding its messages to the engine,
3. the local API (status, peers, the engine's commands, metrics): from here the
   CLI finds the daemon; until the chain has caught up it answers /status and
   /health, and the engine's routes say it is starting (503),
4. the chain sync task (polls the head, feeds confirmed events to the engine);
   its first round catches up from the stored cursor, then the daemon is ready.

SIGINT and SIGTERM cancel the nursery: services stop, the API withdraws its
files, the store closes and the lock is released. Cancelling ``run_node``'s
caller does the same.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from libp2p.peer.id import ID

from node.api import ApiServer, Readiness, Routes, add_node_routes
from node.bounds import Bounds
from node.chain.client import Web3Chain
from node.config import NodeConfig
from node.daemon.peer_memory import known_addresses, remember_peers
from node.daemon.resources import (
    DaemonError,
    Web3TxLookup,
    load_account,
    open_chain,
    open_store,
)
from node.daemon.routes import add_daemon_routes, job_counts, status_source
from node.engine import Engine, EngineContext, IntentExecutor, StakeCommands, forward
from node.engine.admission import ChainAdmission
from node.engine.known_provers import KnownProvers
from node.engine.models import ModelRole
from node.engine.prover import P2PProverNetwork, Pricing, ProverRole
from node.engine.requester import P2PRequesterNetwork, RequesterRole, Resubmission
from node.engine.sync import ChainSync
from node.home import HomeError, HomeLayout, acquire_home_lock
from node.metrics import Metrics
from node.p2p import (
    Inbound,
    P2PConfig,
    P2PService,
    envelope_delivery,
    load_or_create_identity,
    local_peer_record,
    market_topics,
    peer_id_of,
    peer_record_verifier,
)
from node.p2p.config import DirectRules
from node.p2p.direct import BlobLookup
from node.proving import ProverPool
from node.store import ChainCursor, Store
from protocol.messages import Bid, InputDelivery, ReplayGuard, decode_as

if TYPE_CHECKING:
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)

INBOX_SIZE = 256


@dataclass(frozen=True)
class NodeInfo:
    """What a started daemon reports: where to reach it."""

    address: str
    peer_id: str
    listen_addrs: tuple[str, ...]
    api_port: int


@dataclass
class Services:
    """The daemon's running parts, for the status provider."""

    config: NodeConfig
    chain: Web3Chain
    store: Store
    engine: Engine
    p2p: P2PService
    sync: ChainSync
    metrics: Metrics
    provers: KnownProvers


async def run_node(
    config: NodeConfig,
    home: Path,
    *,
    env: Mapping[str, str],
    handle_signals: bool = True,
    task_status: TaskStatus[NodeInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the daemon of ``home`` until cancelled or signalled; raises DaemonError."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(acquire_home_lock(home))
        except HomeError as exc:
            raise DaemonError(str(exc)) from exc
        account = load_account(config, env)
        chain = await trio.to_thread.run_sync(open_chain, config, account)
        store = stack.enter_context(open_store(home, config))
        pool = None
        if config.roles.prover:  # worker processes, closed on the way out
            workers = config.prover.max_workers
            pool = stack.enter_context(
                await trio.to_thread.run_sync(functools.partial(ProverPool, workers=workers))
            )
        await _serve(config, home, chain, store, pool, handle_signals, task_status)


async def _serve(
    config: NodeConfig,
    home: Path,
    chain: Web3Chain,
    store: Store,
    pool: ProverPool | None,
    handle_signals: bool,
    task_status: TaskStatus[NodeInfo],
) -> None:
    readiness = Readiness("engine", "p2p", "chain sync")
    metrics = Metrics()
    executor = IntentExecutor(store, chain, Web3TxLookup(chain))
    chain.sender.on_signed = executor.on_signed
    engine = Engine(store, executor)
    StakeCommands(chain).register(engine)
    bounds = Bounds()
    models = ModelRole(chain, home, bytes(chain.sender.account.key), on_bound=bounds.hit)
    models.register(engine)
    admission = ChainAdmission(chain, min_stake=config.p2p.min_peer_stake, bounds=bounds)
    admission.register(engine)
    p2p, inbox = _p2p_service(config, home, chain, store, models.lookup_blob, admission)
    provers = _known_provers(p2p, bounds)
    provers.register(engine)
    metrics.watch_provers(provers.count)
    if config.roles.requester:
        _requester(config, home, chain, p2p, models, provers).register(engine)
    if pool is not None:
        metrics.watch_prover(pool)
        _prover(config, chain, p2p, models, pool, metrics).register(engine)
    models.attach(p2p)
    metrics.watch_p2p(p2p)
    metrics.watch_bounds(bounds.hits)
    cursor = store.cursor() or ChainCursor(config.chain.deployment_block, None)
    sync = ChainSync(
        chain,
        engine.inputs.clone(),
        cursor,
        poll_interval_s=config.chain.poll_interval_s,
        on_progress=metrics.set_chain,
    )
    services = Services(config, chain, store, engine, p2p, sync, metrics, provers)
    engine.on_tick(functools.partial(_count_jobs, services))
    routes = Routes()
    add_node_routes(
        routes, metrics=metrics, readiness=readiness, status_source=status_source(services)
    )
    add_daemon_routes(routes, services)
    api = ApiServer(routes, port=config.api.port, home=home, readiness=readiness)
    async with trio.open_nursery() as nursery:
        if handle_signals:
            await nursery.start(_stop_on_signal, nursery.cancel_scope)
        await nursery.start(engine.run)
        readiness.done("engine")
        await nursery.start(p2p.run)
        nursery.start_soon(remember_peers, p2p, store)
        nursery.start_soon(forward, inbox, engine.inputs.clone())
        readiness.done("p2p")
        port = await nursery.start(api.run)
        await nursery.start(sync.run)
        readiness.done("chain sync")
        info = NodeInfo(
            chain.address,
            p2p.peer_id.to_base58(),
            tuple(str(a) for a in p2p.listen_addrs()),
            port,
        )
        logger.info("node %s (peer %s) running; API on port %d", info.address, info.peer_id, port)
        task_status.started(info)


def _requester(
    config: NodeConfig,
    home: Path,
    chain: Web3Chain,
    p2p: P2PService,
    models: ModelRole,
    provers: KnownProvers,
) -> RequesterRole:
    network = P2PRequesterNetwork(p2p, bytes(chain.sender.account.key), chain.chain_id)
    return RequesterRole(
        chain,
        network,
        market=config.chain.job_market,
        models_dir=HomeLayout(home).models,
        default_collateral=config.requester.default_collateral,
        default_deadline_s=config.requester.default_deadline_s,
        resubmit=Resubmission(
            config.requester.resubmit_fee_factor, config.requester.resubmit_max_tries
        )
        if config.requester.auto_resubmit
        else None,
        ensure_model=models.ensure_model,
        keep_inputs=config.store.keep_inputs,
        advice=provers.advice,
    )


def _known_provers(p2p: P2PService, bounds: Bounds) -> KnownProvers:
    """The heartbeat table, checking heartbeats against the peer records ``p2p`` verified."""
    book = p2p.peers
    return KnownProvers(
        account_of=lambda peer: book.account_of(ID(peer)),
        peers_of=lambda account: [peer.to_bytes() for peer in book.peers_of(account)],
        on_bound=bounds.hit,
    )


def _prover(
    config: NodeConfig,
    chain: Web3Chain,
    p2p: P2PService,
    models: ModelRole,
    pool: ProverPool,
    metrics: Metrics,
) -> ProverRole:
    prover = config.prover
    pricing = Pricing(prover.price_per_1k_constraints, prover.margin_bps, prover.capacity,
                      prover.max_collateral)  # fmt: skip
    return ProverRole(
        chain,
        P2PProverNetwork(p2p, bytes(chain.sender.account.key), chain.chain_id),
        pool,
        private_key=bytes(chain.sender.account.key),
        market=config.chain.job_market,
        pricing=pricing,
        ensure_model=models.ensure_model,
        metrics=metrics,
        gas_price=lambda: int(chain.w3.eth.gas_price),
    )


async def _count_jobs(services: Services, ctx: EngineContext, now: float) -> None:
    """Refresh the jobs-by-state gauges (a tick is often enough for a scrape)."""
    for role, counts in job_counts(services.store).items():
        services.metrics.set_jobs(role, counts)


def _p2p_service(
    config: NodeConfig,
    home: Path,
    chain: Web3Chain,
    store: Store,
    blobs: BlobLookup,
    admission: ChainAdmission,
) -> tuple[P2PService, trio.MemoryReceiveChannel[Inbound]]:
    key_pair = load_or_create_identity(HomeLayout(home).p2p_key)
    chain_id = chain.chain_id
    now = int(time.time())
    record = local_peer_record(bytes(chain.sender.account.key), chain_id, peer_id_of(key_pair), now)
    known = known_addresses(store, now, peer_id_of(key_pair).to_base58())
    send, receive = trio.open_memory_channel[Inbound](INBOX_SIZE)
    service = P2PService(
        key_pair,
        P2PConfig(listen=config.p2p.listen, bootstrap=config.p2p.bootstrap, known=known),
        send,
        topics=market_topics(
            chain_id, time.time, admit=admission.topics(), on_bound=admission.bounds.hit
        ),
        bids=envelope_delivery(Bid, chain_id, ReplayGuard(), time.time),
        inputs=DirectRules(InputDelivery.MAX_SIZE, lambda data: decode_as(data, InputDelivery))
        if config.roles.prover
        else None,
        blobs=blobs,
        local_record=record,
        verify_record=peer_record_verifier(chain_id),
        bounds=admission.bounds,
    )
    return service, receive


async def _stop_on_signal(
    scope: trio.CancelScope, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            logger.info("received %s; shutting down", signal.Signals(signum).name)
            scope.cancel()
            return


def describe(info: NodeInfo) -> dict[str, Any]:
    """``info`` as JSON."""
    return {
        "address": info.address,
        "peer_id": info.peer_id,
        "listen_addrs": list(info.listen_addrs),
        "api_port": info.api_port,
    }
