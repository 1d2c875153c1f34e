"""GET /metrics: Prometheus text that parses and names every metric the node promises."""

from __future__ import annotations

from pathlib import Path

import trio
from prometheus_client.parser import text_string_to_metric_families

from tests.node.api.harness import raw_request, start_daemon

PROMISED = {
    "provernet_jobs": "gauge",
    "provernet_bids_sent": "counter",
    "provernet_bids_won": "counter",
    "provernet_proofs": "counter",
    "provernet_proving_seconds": "histogram",
    "provernet_connected_peers": "gauge",
    "provernet_chain_head_block": "gauge",
    "provernet_chain_processed_block": "gauge",
    "provernet_chain_lag_blocks": "gauge",
}


async def test_metrics_parse_and_name_what_the_node_promises(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    daemon.metrics.bids_won.inc()
    daemon.metrics.set_chain(head=50, processed=47)
    answer = await raw_request(daemon.port, "GET", "/metrics")
    families = {f.name: f for f in text_string_to_metric_families(answer.body.decode())}
    for name, kind in PROMISED.items():
        assert families[name].type == kind, name
    won = families["provernet_bids_won"].samples
    assert [s.value for s in won if s.name == "provernet_bids_won_total"] == [1]
    assert families["provernet_chain_lag_blocks"].samples[0].value == 3
