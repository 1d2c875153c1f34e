"""The daemon's metrics: names, labels, per-daemon registries, p2p and prover read at scrape."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from prometheus_client.parser import text_string_to_metric_families

from node.metrics import ROLE_STATES, Metrics
from node.p2p import BIDS_TOPIC, JOBS_TOPIC, Drop
from node.p2p.gossip import GossipGate
from node.proving import ProverPool


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, keyed by name and sorted labels."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@dataclass
class FakeP2P:
    """The counters P2PService exposes, around a real GossipGate."""

    gossip: GossipGate
    direct_dropped: Counter[tuple[str, str]] = field(default_factory=Counter)
    peers: list[Any] = field(default_factory=list)

    def connected_peers(self) -> list[Any]:
        return self.peers


def new_gate() -> GossipGate:
    me = ID.from_pubkey(create_new_key_pair().public_key)
    return GossipGate(me, lambda p: False, lambda *a: True, lambda p, n: None, lambda: 0.0)


def test_each_daemon_has_its_own_registry():
    alice, bob = Metrics(), Metrics()
    alice.bids_sent.inc(3)
    assert samples(alice)[("provernet_bids_sent_total", ())] == 3
    assert samples(bob)[("provernet_bids_sent_total", ())] == 0


def test_jobs_by_state_read_zero_for_states_not_given():
    metrics = Metrics()
    metrics.set_jobs("prover", {"proving": 2, "paid": 5})
    metrics.set_jobs("prover", {"paid": 6})
    got = samples(metrics)
    assert got[("provernet_jobs", (("role", "prover"), ("state", "paid")))] == 6
    assert got[("provernet_jobs", (("role", "prover"), ("state", "proving")))] == 0
    requester_states = {
        labels[1][1] for (name, labels) in got if labels[:1] == (("role", "requester"),)
    }
    assert requester_states == set(ROLE_STATES["requester"])


def test_chain_lag_and_proofs():
    metrics = Metrics()
    metrics.set_chain(head=120, processed=100)
    metrics.observe_proof(3.0)
    metrics.observe_proof(700.0)
    got = samples(metrics)
    assert got[("provernet_chain_lag_blocks", ())] == 20
    assert got[("provernet_chain_head_block", ())] == 120
    assert got[("provernet_chain_processed_block", ())] == 100
    assert got[("provernet_proofs_total", ())] == 2
    assert got[("provernet_proving_seconds_count", ())] == 2
    assert got[("provernet_proving_seconds_bucket", (("le", "5.0"),))] == 1
    metrics.set_chain(head=90, processed=100)  # a reorg moved the head back
    assert samples(metrics)[("provernet_chain_lag_blocks", ())] == 0


def test_p2p_counters_are_read_at_scrape_time_not_copied():
    metrics, gate = Metrics(), new_gate()
    p2p = FakeP2P(gate)
    metrics.watch_p2p(p2p)
    gate.accepted[JOBS_TOPIC] += 4
    gate.dropped[(JOBS_TOPIC, Drop.MALFORMED)] += 1
    gate.dropped[(BIDS_TOPIC, Drop.RATE_LIMITED)] += 2
    p2p.direct_dropped[("/provernet/input/1", "NotBound")] += 1
    p2p.peers += ["bob", "carol"]
    got = samples(metrics)
    assert got[("provernet_gossip_messages_in_total", (("topic", JOBS_TOPIC),))] == 5
    assert got[("provernet_gossip_messages_in_total", (("topic", BIDS_TOPIC),))] == 2
    dropped = (
        "provernet_gossip_messages_dropped_total",
        (("reason", "malformed"), ("topic", JOBS_TOPIC)),
    )
    assert got[dropped] == 1
    direct = (("protocol", "/provernet/input/1"), ("reason", "NotBound"))
    assert got[("provernet_direct_messages_dropped_total", direct)] == 1
    assert got[("provernet_connected_peers", ())] == 2
    gate.dropped[(JOBS_TOPIC, Drop.MALFORMED)] += 1
    assert samples(metrics)[dropped] == 2  # a second scrape counts nothing twice


def test_the_prover_backend_is_an_info_metric():
    metrics = Metrics()
    with ProverPool(workers=0) as pool:
        metrics.watch_prover(pool)
        got = samples(metrics)
        backend = pool.status()["backend"]
    info = ("provernet_prover_info", (("backend", backend), ("workers", "0")))
    assert got[info] == 1
    assert got[("provernet_prover_prepared_models", ())] == 0


def test_the_provers_known_are_counted_at_scrape_time():
    metrics = Metrics()
    assert samples(metrics)[("provernet_provers_known", ())] == 0
    known = ["bob"]
    metrics.watch_provers(lambda: len(known))
    known.append("carol")
    assert samples(metrics)[("provernet_provers_known", ())] == 2
