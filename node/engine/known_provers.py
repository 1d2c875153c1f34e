"""Prover heartbeats in: the latest offer of every prover heard, and advice drawn from them.

Every node keeps, per prover account, the newest heartbeat (by its envelope's
timestamp) and forgets it ``HEARTBEAT_TTL_S`` after hearing it. The gossip
validator already refused envelopes that are replayed, expired, not signed by the
prover they name, or whose ``peer_id`` is not the publishing peer (node.p2p.records);
here a heartbeat is also dropped when a signed peer record contradicts it: its peer
is bound to another account, or its account to other peers. A heartbeat from a
prover whose record this node has not seen (it is not a neighbour) is kept on the
validator's word.

The list is served as ``GET /provers``; ``advice`` gives the requester's warnings
for a job it is about to submit. Heartbeats are advice: nothing waits on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from libp2p.peer.id import ID

from node.chain.amounts import format_amount
from node.engine.core import Engine, EngineContext
from node.engine.prover.heartbeats import HEARTBEAT_TTL_S
from node.p2p.config import DirectMessage
from node.p2p.gossip import GossipMessage
from protocol.errors import RemoteProtocolError
from protocol.messages import ProverHeartbeat, Verified


class HeartbeatRefused(RemoteProtocolError):  # noqa: N818 (named for the reason)
    """A heartbeat that a peer record contradicts, or that did not come as signed gossip."""


@dataclass(frozen=True)
class KnownProver:
    """A prover's newest heartbeat, when it was signed and when this node heard it."""

    heartbeat: ProverHeartbeat
    signed_at: int  # the envelope's timestamp (the prover's clock)
    heard_at: float  # this node's clock

    @property
    def account(self) -> str:
        return to_checksum_address(self.heartbeat.prover)

    def quote(self, constraints: int) -> int:
        """The work part of this prover's fee for ``constraints`` (planning.price rounds up)."""
        return -(-constraints * self.heartbeat.price_per_1k_constraints // 1000)

    def to_json(self, now: float) -> dict[str, Any]:
        hb = self.heartbeat
        return {
            "account": self.account,
            "peer_id": _base58(hb.peer_id),
            "free_capacity": hb.capacity,
            "price_per_1k_constraints": str(hb.price_per_1k_constraints),
            "proving_rate": hb.proving_rate,
            "models": list(hb.models),
            "age_s": round(max(0.0, now - self.heard_at), 1),
        }


# Provers kept at most; past it the one heard longest ago goes (heartbeats come only
# from staked accounts, node.engine.admission, so reaching it takes that many stakes).
MAX_PROVERS = 10_000


class KnownProvers:
    """The newest heartbeat per prover account, forgotten after ``ttl_s``."""

    def __init__(
        self,
        *,
        account_of: Callable[[bytes], bytes | None] = lambda peer: None,
        peers_of: Callable[[bytes], Collection[bytes]] = lambda account: (),
        ttl_s: float = HEARTBEAT_TTL_S,
        wall_clock: Callable[[], float] = time.time,
        on_bound: Callable[[str], None] = lambda name: None,
        max_provers: int = MAX_PROVERS,
    ) -> None:
        """``account_of(peer id)`` and ``peers_of(account)`` read the verified peer records."""
        self._account_of, self._peers_of = account_of, peers_of
        self._on_bound, self.max_provers = on_bound, max_provers
        self.ttl_s, self._clock = ttl_s, wall_clock
        self._provers: dict[bytes, KnownProver] = {}

    def register(self, engine: Engine) -> None:
        """Take heartbeats from ``engine`` and serve ``GET /provers``."""
        engine.on_message(ProverHeartbeat, self.on_heartbeat)
        engine.on_command("provers.list", self.list_provers)
        engine.expose("GET", "/provers", "provers.list")

    async def on_heartbeat(
        self, ctx: EngineContext, inbound: GossipMessage | DirectMessage
    ) -> None:
        """Keep a validated gossip heartbeat unless a peer record contradicts it."""
        if not isinstance(inbound, GossipMessage) or not isinstance(inbound.message, Verified):
            raise HeartbeatRefused("heartbeats travel as signed gossip")
        verified = inbound.message
        assert isinstance(verified.message, ProverHeartbeat)
        self.add(verified.message, verified.envelope.timestamp)

    def add(self, heartbeat: ProverHeartbeat, signed_at: int) -> bool:
        """Keep ``heartbeat`` if it is the prover's newest; raises HeartbeatRefused."""
        problem = self._binding_problem(heartbeat)
        if problem is not None:
            raise HeartbeatRefused(problem)
        known = self._provers.get(heartbeat.prover)
        if known is not None and signed_at < known.signed_at:
            return False  # an older heartbeat that arrived late
        if known is None and len(self._provers) >= self.max_provers and not self.live_room():
            oldest = min(self._provers, key=lambda a: self._provers[a].heard_at)
            del self._provers[oldest]
            self._on_bound("known_provers")
        self._provers[heartbeat.prover] = KnownProver(heartbeat, signed_at, self._clock())
        return True

    def live_room(self) -> bool:
        """Whether forgetting the expired entries leaves room for one more prover."""
        return len(self.live()) < self.max_provers

    def _binding_problem(self, heartbeat: ProverHeartbeat) -> str | None:
        bound = self._account_of(heartbeat.peer_id)
        if bound is not None and bound != heartbeat.prover:
            return f"peer {_base58(heartbeat.peer_id)} is bound to another account"
        peers = self._peers_of(heartbeat.prover)
        if peers and heartbeat.peer_id not in peers:
            return f"{to_checksum_address(heartbeat.prover)} is bound to other peers"
        return None

    def live(self) -> list[KnownProver]:
        """The provers heard within the TTL, by account; older entries are forgotten."""
        now = self._clock()
        for account, known in list(self._provers.items()):
            if now - known.heard_at > self.ttl_s:
                del self._provers[account]
        return sorted(self._provers.values(), key=lambda k: k.account)

    def count(self) -> int:
        """How many provers were heard within the TTL."""
        return len(self.live())

    async def list_provers(self, ctx: EngineContext, body: Mapping[str, Any]) -> Any:
        """Every prover heard within the TTL, with its offer and how old it is."""
        now = self._clock()
        return {"provers": [k.to_json(now) for k in self.live()]}

    def advice(self, model_id: int, constraints: int, max_fee: int) -> list[str]:
        """Warnings for a job on ``model_id``: a max fee no known prover would take, no capacity."""
        provers = self.live()
        warnings = []
        holding = [k for k in provers if model_id in k.heartbeat.models]
        if holding:
            cheapest = min(holding, key=lambda k: k.quote(constraints))
            quote = cheapest.quote(constraints)
            if max_fee < quote:
                price = format_amount(cheapest.heartbeat.price_per_1k_constraints)
                warnings.append(
                    f"the max fee {format_amount(max_fee)} is below the cheapest known quote "
                    f"{format_amount(quote)} for model {model_id} ({cheapest.account} asks "
                    f"{price} per 1k constraints x {constraints} constraints, before gas)"
                )
        if not any(k.heartbeat.capacity > 0 for k in provers):
            heard = (
                f"{len(provers)} known, all busy"
                if provers
                else f"no prover heartbeat heard in the last {self.ttl_s:g} s"
            )
            warnings.append(f"no known prover has free capacity ({heard})")
        return warnings


def _base58(peer_id: bytes) -> str:
    return str(ID(peer_id).to_base58())
