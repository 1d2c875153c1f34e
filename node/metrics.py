"""The daemon's Prometheus metrics, one ``Metrics`` per daemon with its own registry.

Services update the counters and gauges they own (``metrics.bids_sent.inc()``,
``metrics.set_chain(head, processed)``). Numbers another component already
counts are read from it when Prometheus scrapes, never counted twice: the p2p
layer's gossip and direct-stream counters (``watch_p2p``), the prover pool's
status (``watch_prover``) and the provers heard (``watch_provers``). The registry
is never prometheus_client's global one: several daemons share a process in the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from protocol.market.prover import ProverState
from protocol.market.requester import RequesterState

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "provernet"
# Every state each role's lifecycle table has, so a dashboard sees zeros, not gaps.
ROLE_STATES = {
    "requester": tuple(state.value for state in RequesterState),
    "prover": tuple(state.value for state in ProverState),
}
# Proving takes from under a second (the smallest reference circuits) up to the
# proof deadlines the market suggests (an hour at most).
PROVING_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class GossipCounters(Protocol):
    """What the gossip gate counts (node.p2p.gossip.GossipGate)."""

    @property
    def accepted(self) -> Mapping[str, int]: ...

    @property
    def dropped(self) -> Mapping[tuple[str, Any], int]: ...


class P2PCounters(Protocol):
    """What the p2p service counts (node.p2p.P2PService)."""

    @property
    def gossip(self) -> GossipCounters: ...

    @property
    def direct_dropped(self) -> Mapping[tuple[str, str], int]: ...

    def connected_peers(self) -> list[Any]: ...


class ProverStatus(Protocol):
    """The prover pool's status (node.proving.ProverPool.status)."""

    def status(self) -> dict[str, Any]: ...


class Metrics:
    """Every metric of one daemon; see the module docstring."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        self.jobs = Gauge(f"{PREFIX}_jobs", "Jobs by role and state", ["role", "state"], registry=r)
        self.bids_sent = Counter(
            f"{PREFIX}_bids_sent", "Bids this node signed and sent", registry=r
        )
        self.bids_won = Counter(f"{PREFIX}_bids_won", "Jobs awarded to this node", registry=r)
        self.jobs_accepted = Counter(
            f"{PREFIX}_jobs_accepted", "Awards this node accepted (collateral locked)", registry=r
        )
        self.awards_let_lapse = Counter(
            f"{PREFIX}_awards_let_lapse",
            "Awards this node did not accept, by why",
            ["reason"],
            registry=r,
        )
        self.inputs_refused = Counter(
            f"{PREFIX}_inputs_refused",
            "Delivered inputs refused before accepting, by why",
            ["reason"],
            registry=r,
        )
        self.proofs = Counter(f"{PREFIX}_proofs", "Proofs made", registry=r)
        self.proof_failures = Counter(
            f"{PREFIX}_proof_failures", "Proving attempts that failed", registry=r
        )
        self.proving_seconds = Histogram(
            f"{PREFIX}_proving_seconds", "Wall time per proof", buckets=PROVING_BUCKETS, registry=r
        )
        self.peers = Gauge(f"{PREFIX}_connected_peers", "Connected libp2p peers", registry=r)
        self.provers_known = Gauge(
            f"{PREFIX}_provers_known", "Provers whose heartbeat is fresh", registry=r
        )
        self.chain_head = Gauge(
            f"{PREFIX}_chain_head_block", "Latest block of the chain", registry=r
        )
        self.chain_processed = Gauge(
            f"{PREFIX}_chain_processed_block", "Last block whose events were processed", registry=r
        )
        self.chain_lag = Gauge(
            f"{PREFIX}_chain_lag_blocks",
            "Blocks between the head and the last processed",
            registry=r,
        )
        for role in ROLE_STATES:
            self.set_jobs(role, {})

    def set_jobs(self, role: str, counts: Mapping[str, int]) -> None:
        """Set the job counts of ``role``; states not in ``counts`` read zero."""
        for state in (*ROLE_STATES.get(role, ()), *counts):
            self.jobs.labels(role=role, state=state).set(counts.get(state, 0))

    def set_chain(self, head: int, processed: int) -> None:
        """Record the chain head and the last processed block; the lag follows."""
        self.chain_head.set(head)
        self.chain_processed.set(processed)
        self.chain_lag.set(max(0, head - processed))

    def observe_proof(self, seconds: float) -> None:
        """Count a proof made in ``seconds``."""
        self.proofs.inc()
        self.proving_seconds.observe(seconds)

    def watch_p2p(self, service: P2PCounters) -> None:
        """Read the p2p service's peers and message counters at each scrape."""
        self.peers.set_function(lambda: len(service.connected_peers()))
        self.registry.register(_P2PCollector(service))

    def watch_provers(self, count: Callable[[], int]) -> None:
        """Read the number of provers with a fresh heartbeat at each scrape."""
        self.provers_known.set_function(count)

    def watch_prover(self, pool: ProverStatus) -> None:
        """Report the prover pool's backend and prepared models at each scrape."""
        self.registry.register(_ProverCollector(pool))

    def watch_bounds(self, hits: Mapping[str, int]) -> None:
        """Report how often each bounded map or queue was full (node.bounds) at each scrape."""
        self.registry.register(_BoundsCollector(hits))

    def render(self) -> bytes:
        """Every metric in the Prometheus text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


class _P2PCollector(Collector):
    def __init__(self, service: P2PCounters) -> None:
        self._service = service

    def describe(self) -> Iterable[CounterMetricFamily]:
        return self._families()

    def collect(self) -> Iterable[CounterMetricFamily]:
        gossip_in, gossip_dropped, direct_dropped = self._families()
        gate = self._service.gossip
        dropped_by_topic: dict[str, int] = {}
        for (topic, reason), count in sorted(gate.dropped.items(), key=str):
            gossip_dropped.add_metric([topic, str(getattr(reason, "value", reason))], count)
            dropped_by_topic[topic] = dropped_by_topic.get(topic, 0) + count
        for topic in sorted({*gate.accepted, *dropped_by_topic}):
            gossip_in.add_metric(
                [topic], gate.accepted.get(topic, 0) + dropped_by_topic.get(topic, 0)
            )
        for (protocol, reason), count in sorted(self._service.direct_dropped.items()):
            direct_dropped.add_metric([protocol, reason], count)
        return [gossip_in, gossip_dropped, direct_dropped]

    @staticmethod
    def _families() -> list[CounterMetricFamily]:
        return [
            CounterMetricFamily(
                f"{PREFIX}_gossip_messages_in",
                "Gossip messages validated, accepted or dropped (own publications included)",
                labels=["topic"],
            ),
            CounterMetricFamily(
                f"{PREFIX}_gossip_messages_dropped",
                "Gossip messages the topic validator refused",
                labels=["topic", "reason"],
            ),
            CounterMetricFamily(
                f"{PREFIX}_direct_messages_dropped",
                "Direct-stream messages refused",
                labels=["protocol", "reason"],
            ),
        ]


class _BoundsCollector(Collector):
    def __init__(self, hits: Mapping[str, int]) -> None:
        self._hits = hits

    def describe(self) -> Iterable[CounterMetricFamily]:
        return [self._family()]

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = self._family()
        for name, count in sorted(self._hits.items()):
            family.add_metric([name], count)
        return [family]

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            f"{PREFIX}_bounds_hit",
            "Times a bounded map or queue was full and dropped or evicted",
            labels=["bound"],
        )


class _ProverCollector(Collector):
    def __init__(self, pool: ProverStatus) -> None:
        self._pool = pool

    def describe(self) -> Iterable[InfoMetricFamily | GaugeMetricFamily]:
        return self._families({})

    def collect(self) -> Iterable[InfoMetricFamily | GaugeMetricFamily]:
        status = self._pool.status()
        info = {"backend": str(status["backend"]), "workers": str(status["workers"])}
        return self._families(info, len(status["prepared_models"]))

    @staticmethod
    def _families(
        info: dict[str, str], prepared: int | None = None
    ) -> list[InfoMetricFamily | GaugeMetricFamily]:
        description = "The proving backend in use and its worker processes"
        gauge = "Models whose proving keys are loaded into the workers"
        return [
            InfoMetricFamily(f"{PREFIX}_prover", description, value=info or None),
            GaugeMetricFamily(f"{PREFIX}_prover_prepared_models", gauge, value=prepared),
        ]
