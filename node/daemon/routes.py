"""The daemon's own API routes: status details, peers, and the engine's commands.

``GET /status`` (node.api.status) carries ``status_source``'s answer under
``node``; ``GET /peers`` lists connected peers with the account each proved it
holds. Every command a role exposes (``Engine.expose``) becomes a route that runs
it in the engine: the stake commands give ``GET /stake``, ``POST /stake/deposit
{amount}``, ``POST /stake/withdraw {amount}`` and ``POST /stake/withdraw/complete``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio
from eth_utils.address import to_checksum_address
from libp2p.peer.peerstore import PeerStoreError

from node.api import ApiRequest, HttpError, Routes
from node.chain.errors import ChainError
from node.chain.rpc import TRANSPORT_ERRORS
from node.engine import Engine, IntentPendingError
from node.engine.stake import stake_json
from node.store import Role, Store

if TYPE_CHECKING:
    from node.daemon.run import Services


CHAIN_FAILURES: tuple[type[BaseException], ...] = (ChainError, *TRANSPORT_ERRORS)


def add_command_route(routes: Routes, engine: Engine, method: str, path: str, command: str) -> None:
    """Serve ``method path`` by running the engine command ``command``.

    The command's body is the request's query, path parameters and JSON body, merged.
    """

    async def handle(request: ApiRequest) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        try:
            return await engine.call(command, {**request.query, **request.params, **body})
        except IntentPendingError as exc:
            raise HttpError(str(exc), status=504, code="pending") from exc
        except CHAIN_FAILURES as exc:
            raise HttpError(f"the chain did not answer: {exc}", status=502, code="chain") from exc

    routes.add(method, path, handle)


def add_daemon_routes(routes: Routes, services: Services) -> None:
    """Register ``/peers`` and every command the engine's roles expose."""
    routes.get("/peers", functools.partial(_peers, services))
    for exposed in services.engine.routes:
        add_command_route(routes, services.engine, exposed.method, exposed.path, exposed.command)


async def _peers(services: Services, request: ApiRequest) -> dict[str, Any]:
    p2p = services.p2p
    peers = []
    for peer in p2p.connected_peers():
        account = p2p.peers.account_of(peer)
        try:
            addrs = [str(a) for a in p2p.host.get_peerstore().addrs(peer)]
        except PeerStoreError:  # no live addresses for it: dialed us, or they expired
            addrs = []
        peers.append(
            {
                "peer_id": peer.to_base58(),
                "account": None if account is None else to_checksum_address(account),
                "addrs": addrs,
            }
        )
    return {"peers": sorted(peers, key=lambda p: p["peer_id"])}


def status_source(services: Services) -> Callable[[], Awaitable[dict[str, Any]]]:
    """What ``GET /status`` shows about this node under ``node``."""

    async def status() -> dict[str, Any]:
        s = services
        return {
            "address": s.chain.address,
            "peer_id": s.p2p.peer_id.to_base58(),
            "listen_addrs": [str(a) for a in s.p2p.listen_addrs()],
            "roles": [r for r in ("requester", "prover") if getattr(s.config.roles, r)],
            "chain_id": s.chain.chain_id,
            "head_block": s.sync.head,
            "processed_block": s.sync.processed,
            "sync_rounds": s.sync.rounds,
            "events_applied": s.engine.applied_events,
            "peers": len(s.p2p.connected_peers()),
            "provers": s.provers.count(),
            "stake": await _stake(s),
            "backend": _backend(),
            "jobs": job_counts(s.store),
            "open_intents": len(s.store.open_intents()),
        }

    return status


async def _stake(services: Services) -> dict[str, Any] | None:
    chain = services.chain
    try:
        info = await trio.to_thread.run_sync(chain.stake_of, chain.address)
    except CHAIN_FAILURES:
        return None  # the status still answers while the RPC is away
    return stake_json(chain.address, info)


@functools.cache
def _backend() -> str:
    from protocol.bn254.backend import get_backend  # loads a native library when present

    return get_backend(None).name


def job_counts(store: Store) -> dict[str, dict[str, int]]:
    """How many jobs each role has in each state."""
    counts: dict[str, dict[str, int]] = {}
    for role in Role:
        by_state = Counter(record.state for record in store.list_jobs(role))
        counts[role.value] = dict(sorted(by_state.items()))
    return counts
