"""Prover heartbeats: published on schedule and on change; kept newest-first, expired, checked.

The publisher runs against a fake network with explicit trio times; the table takes
real signed envelopes (as the gossip validator passes them) and a fake wall clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from eth_account import Account
from libp2p.peer.id import ID

from node.engine.core import EngineContext
from node.engine.known_provers import HeartbeatRefused, KnownProvers
from node.engine.prover.heartbeats import (
    HEARTBEAT_EVERY_S,
    HEARTBEAT_TTL_S,
    HeartbeatPublisher,
    Offer,
    held_models,
)
from node.engine.repeat import NEW_PEER_DELAY_S
from node.p2p.config import DirectMessage
from node.p2p.gossip import HEARTBEATS_TOPIC, GossipMessage
from node.p2p.records import sealed_for_gossip
from node.store import ModelRecord, Store
from protocol.messages import ProverHeartbeat, ReplayGuard, validate_envelope

KEYS = {name: bytes([i + 1]) * 32 for i, name in enumerate(("bob", "carol", "dave"))}
ADDR = {name: Account.from_key(key).address for name, key in KEYS.items()}
RAW = {name: bytes.fromhex(a[2:]) for name, a in ADDR.items()}
PEERS = {name: b"\x12\x20" + bytes([i + 1]) * 32 for i, name in enumerate(KEYS)}
GWEI = 10**9
OFFER = Offer(free_capacity=4, price_per_1k=GWEI, proving_rate=0, models=(3, 7))


class FakeNetwork:
    """Records the heartbeats published; ``peers`` are the connected peers."""

    def __init__(self) -> None:
        self.peer_id = PEERS["bob"]
        self.peers: list[str] = []
        self.published: list[ProverHeartbeat] = []
        self.fail = False

    def connected_peers(self) -> list[str]:
        return self.peers

    async def publish_heartbeat(self, heartbeat: ProverHeartbeat) -> None:
        if self.fail:
            raise RuntimeError("no peers subscribed")
        self.published.append(heartbeat)


async def tick(publisher: HeartbeatPublisher, offer: Offer, now: float) -> None:
    """What the prover role does on an engine tick (there in a task of its own)."""
    heartbeat = publisher.due(offer, now)
    if heartbeat is not None:
        await publisher.publish(heartbeat)


async def test_the_offer_is_published_at_once_then_every_period() -> None:
    network = FakeNetwork()
    publisher = HeartbeatPublisher(network, RAW["bob"])
    for now in (100.0, 101.0, 100.0 + HEARTBEAT_EVERY_S - 0.1):
        await tick(publisher, OFFER, now)
    assert len(network.published) == 1
    [first] = network.published
    assert (first.prover, first.peer_id, first.capacity) == (RAW["bob"], PEERS["bob"], 4)
    assert (first.price_per_1k_constraints, first.proving_rate, first.models) == (GWEI, 0, (3, 7))
    await tick(publisher, OFFER, 100.0 + HEARTBEAT_EVERY_S)
    assert len(network.published) == 2


async def test_a_change_of_capacity_or_price_is_published_at_once_a_rate_change_waits() -> None:
    network = FakeNetwork()
    publisher = HeartbeatPublisher(network, RAW["bob"])
    await tick(publisher, OFFER, 100.0)
    faster = Offer(4, GWEI, 1500, (3, 7))
    await tick(publisher, faster, 101.0)  # the rate alone waits for the period
    busier = Offer(3, GWEI, 1500, (3, 7))
    await tick(publisher, busier, 102.0)
    await tick(publisher, busier, 103.0)
    dearer = Offer(3, 2 * GWEI, 1500, (3, 7))
    await tick(publisher, dearer, 104.0)
    sent = [(h.capacity, h.price_per_1k_constraints, h.proving_rate) for h in network.published]
    assert sent == [(4, GWEI, 0), (3, GWEI, 1500), (3, 2 * GWEI, 1500)]


async def test_a_new_peer_hears_the_offer_once_the_mesh_can_form() -> None:
    network = FakeNetwork()
    publisher = HeartbeatPublisher(network, RAW["bob"])
    await tick(publisher, OFFER, 100.0)
    network.peers = ["alice"]
    await tick(publisher, OFFER, 101.0)
    await tick(publisher, OFFER, 101.0 + NEW_PEER_DELAY_S - 0.1)
    assert len(network.published) == 1
    await tick(publisher, OFFER, 101.0 + NEW_PEER_DELAY_S)
    assert len(network.published) == 2


async def test_a_failed_publication_is_not_fatal_and_the_next_period_tries_again() -> None:
    network = FakeNetwork()
    network.fail = True
    publisher = HeartbeatPublisher(network, RAW["bob"])
    await tick(publisher, OFFER, 100.0)
    network.fail = False
    await tick(publisher, OFFER, 100.0 + HEARTBEAT_EVERY_S)
    assert publisher.published == 1


def test_held_models_are_sorted_and_skip_deprecated_and_missing_circuits(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "node.db", chain_id=31337, contracts={})
    held = tmp_path / "circuit"
    held.mkdir()
    for model_id, deprecated, folder in (
        (9, False, held), (2, False, held), (5, True, held), (4, False, tmp_path / "gone"),
        (6, False, None),
    ):  # fmt: skip
        store.upsert_model(ModelRecord(model_id, f"m{model_id}", b"\x01" * 32, b"\x02" * 32,
                                       b"\x03" * 32, 100, 3, ADDR["bob"], deprecated,
                                       None if folder is None else str(folder)))  # fmt: skip
    assert held_models(store) == (2, 9)


# -- the table ------------------------------------------------------------------


def heartbeat(name: str, *, capacity: int = 2, price: int = GWEI, models: tuple[int, ...] = (3,),
              peer: str | None = None) -> ProverHeartbeat:  # fmt: skip
    return ProverHeartbeat(RAW[name], PEERS[peer or name], capacity, price, 1200, models)


def gossip(name: str, message: ProverHeartbeat, signed_at: int) -> GossipMessage:
    """``message`` sealed by ``name`` at ``signed_at``, as the gossip validator passes it on."""
    data = sealed_for_gossip(KEYS[name], 31337, message, now=signed_at, lifetime_s=45)
    verified = validate_envelope(data, chain_id=31337, now=signed_at, replay=ReplayGuard())
    origin = ID(message.peer_id)
    return GossipMessage(HEARTBEATS_TOPIC, verified, data, origin, origin)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


CTX = cast(EngineContext, None)


async def test_the_newest_heartbeat_per_prover_is_kept_and_listed() -> None:
    clock = Clock()
    table = KnownProvers(wall_clock=clock)
    await table.on_heartbeat(CTX, gossip("bob", heartbeat("bob", capacity=2), 1_000))
    await table.on_heartbeat(CTX, gossip("carol", heartbeat("carol", price=3 * GWEI), 1_000))
    await table.on_heartbeat(CTX, gossip("bob", heartbeat("bob", capacity=1), 1_005))
    await table.on_heartbeat(CTX, gossip("bob", heartbeat("bob", capacity=4), 1_002))  # late
    clock.now += 3
    listed: dict[str, Any] = await table.list_provers(CTX, {})
    rows = {row["account"]: row for row in listed["provers"]}
    assert set(rows) == {ADDR["bob"], ADDR["carol"]}
    assert rows[ADDR["bob"]] == {
        "account": ADDR["bob"],
        "peer_id": ID(PEERS["bob"]).to_base58(),
        "free_capacity": 1,
        "price_per_1k_constraints": str(GWEI),
        "proving_rate": 1200,
        "models": [3],
        "age_s": 3.0,
    }
    assert rows[ADDR["carol"]]["price_per_1k_constraints"] == str(3 * GWEI)


async def test_a_prover_not_heard_for_the_ttl_is_forgotten() -> None:
    clock = Clock()
    table = KnownProvers(wall_clock=clock)
    await table.on_heartbeat(CTX, gossip("bob", heartbeat("bob"), 1_000))
    clock.now += HEARTBEAT_TTL_S - 1
    await table.on_heartbeat(CTX, gossip("carol", heartbeat("carol"), 1_044))
    assert table.count() == 2
    clock.now += 2
    assert [k.account for k in table.live()] == [ADDR["carol"]]
    clock.now += HEARTBEAT_TTL_S
    assert table.count() == 0


async def test_the_table_is_bounded_and_the_prover_heard_longest_ago_goes() -> None:
    clock, hits = Clock(), []
    table = KnownProvers(wall_clock=clock, on_bound=hits.append, max_provers=1)
    await table.on_heartbeat(CTX, gossip("bob", heartbeat("bob"), 1_000))
    await table.on_heartbeat(CTX, gossip("bob", heartbeat("bob"), 1_001))  # bob again: no hit
    clock.now += 1
    await table.on_heartbeat(CTX, gossip("carol", heartbeat("carol"), 1_002))
    assert [k.account for k in table.live()] == [ADDR["carol"]]
    assert hits == ["known_provers"]


async def test_a_heartbeat_its_peer_records_contradict_is_dropped() -> None:
    bound = {PEERS["bob"]: RAW["bob"], PEERS["dave"]: RAW["dave"]}
    table = KnownProvers(
        account_of=bound.get,
        peers_of=lambda account: [p for p, a in bound.items() if a == account],
        wall_clock=Clock(),
    )
    # carol publishes from dave's peer (bound to dave), then bob from a peer not his.
    with pytest.raises(HeartbeatRefused, match="bound to another account"):
        await table.on_heartbeat(CTX, gossip("carol", heartbeat("carol", peer="dave"), 1_000))
    with pytest.raises(HeartbeatRefused, match="bound to other peers"):
        await table.on_heartbeat(CTX, gossip("bob", heartbeat("bob", peer="carol"), 1_000))
    direct = DirectMessage("/provernet/bids/1", heartbeat("bob"), b"", ID(PEERS["bob"]), RAW["bob"])
    with pytest.raises(HeartbeatRefused, match="signed gossip"):
        await table.on_heartbeat(CTX, direct)
    assert table.count() == 0
    await table.on_heartbeat(CTX, gossip("bob", heartbeat("bob"), 1_000))  # his own peer
    await table.on_heartbeat(CTX, gossip("carol", heartbeat("carol"), 1_000))  # no record known
    assert table.count() == 2


# -- advice ---------------------------------------------------------------------


def test_a_max_fee_below_the_cheapest_quote_of_a_prover_holding_the_model_is_named() -> None:
    table = KnownProvers(wall_clock=Clock())
    table.add(heartbeat("bob", price=2 * GWEI, models=(3,)), 1_000)
    table.add(heartbeat("carol", price=GWEI // 2, models=(4,)), 1_000)  # cheaper, not model 3
    table.add(heartbeat("dave", price=3 * GWEI, models=(3, 4)), 1_000)
    # bob quotes 2 gwei x 1500 / 1000 = 3 gwei for model 3's 1500 constraints.
    [warning] = table.advice(3, 1_500, 3 * GWEI - 1)
    assert "below the cheapest known quote 3 gwei for model 3" in warning
    assert f"{ADDR['bob']} asks 2 gwei per 1k constraints x 1500 constraints" in warning
    assert table.advice(3, 1_500, 3 * GWEI) == []
    assert table.advice(9, 1_500, 1) == []  # no known prover holds model 9: no quote to compare


def test_no_known_prover_with_free_capacity_is_a_warning_never_a_refusal() -> None:
    table = KnownProvers(wall_clock=Clock())
    [none_heard] = table.advice(3, 1_500, GWEI)
    assert none_heard == (
        "no known prover has free capacity "
        f"(no prover heartbeat heard in the last {HEARTBEAT_TTL_S:g} s)"
    )
    table.add(heartbeat("bob", capacity=0), 1_000)
    busy = ["no known prover has free capacity (1 known, all busy)"]
    assert table.advice(3, 1_500, 2 * GWEI) == busy
    table.add(heartbeat("carol", capacity=1), 1_000)
    assert table.advice(3, 1_500, 2 * GWEI) == []
