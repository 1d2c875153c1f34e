"""Hostile peers against a real requester daemon: it drops their bids and still settles.

alice (a daemon) requests a job and bob (a daemon, staked) proves it. While the bid
window is open, mallory (a libp2p node in this process, bound to an unstaked
account) bids 1 wei from her own account, forges 1-wei bids in bob's name and
replays her bid, on the bids topic and on alice's direct bid stream; throwaway
nodes send garbage drawn by hypothesis on the bids and jobs topics and the bid
stream. alice refuses every bad direct message and her metrics count every dropped
one; mallory's genuine bid is recorded as invalid (her stake covers no collateral);
nothing forged, replayed or garbled reaches the job's bids; both daemons stay up,
and bob still wins and is paid his own price.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from libp2p.peer.id import ID
from prometheus_client.parser import text_string_to_metric_families

from node.anvil import AnvilProcess
from node.api.client import ApiClient
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.keys import dev_account
from node.p2p import BID_PROTOCOL, BIDS_TOPIC, JOBS_TOPIC, Refused
from protocol.messages import Envelope, JobTerms, encode, seal, sign_bid
from tests.node.daemon.harness import Home, cli_json, market, register, submit_job, wait_for
from tests.node.p2p.nodes import Node, open_node, raw_topic

pytestmark = pytest.mark.slow

MALLORY_KEY = bytes(dev_account(9).key)  # no daemon runs account 9 here: never staked
# A 40 s bid window (a quarter of the deadline): the attack takes a few seconds of it.
DEADLINE = "160s"
# alice bans a peer at -100 points (node.p2p.peers.ScorePolicy); a malformed gossip
# message costs its forwarder 20, a refused direct one 10 (node.p2p.gossip, .service).
# Each throwaway node stays above the ban, so everything it sends is judged and counted.
GOSSIP_PER_NODE = 4
DIRECT_PER_NODE = 8
# Examples per channel; bursts stay far below gossipsub's 32-message send queue
# (LIBP2P_NOTES item 4), which would drop the rest silently.
GARBAGE = 8
DropKey = tuple[str, str, str]  # ("gossip", topic, reason) or ("direct", protocol, reason)


@dataclass(frozen=True)
class Target:
    """alice's node and the open job, as any peer can learn them."""

    addr: str
    peer: ID
    chain_id: int
    market: bytes
    job_id: int
    bid_deadline: int
    terms: JobTerms  # what a bid on the job signs
    bob: bytes  # a staked prover's account, to forge bids in


def draw_garbage(base: bytes, count: int) -> list[bytes]:
    """``count`` hypothesis examples: random bytes, or ``base`` with one byte changed."""
    random = st.binary(min_size=1, max_size=600)
    mutated = st.tuples(st.integers(0, len(base) - 1), st.integers(1, 255)).map(
        lambda flip: base[: flip[0]] + bytes([base[flip[0]] ^ flip[1]]) + base[flip[0] + 1 :]
    )
    found: list[bytes] = []

    @settings(max_examples=count, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(st.one_of(random, mutated))
    def collect(junk: bytes) -> None:
        found.append(junk)

    collect()
    return found[:count]


def mallory_bids(target: Target, peer: ID) -> dict[str, bytes]:
    """Her genuine 1-wei bid, two forgeries of it in bob's name, and its replay."""
    now = int(time.time())
    seal_ = functools.partial(seal, MALLORY_KEY, target.chain_id, timestamp=now, lifetime_s=120)
    own = sign_bid(MALLORY_KEY, target.chain_id, target.market, target.terms, job_id=target.job_id,
                   fee=1, expiry=target.bid_deadline, peer_id=peer.to_bytes())  # fmt: skip
    in_bobs_name = dataclasses.replace(own, prover=target.bob)
    genuine = encode(seal_(own, nonce=1))
    return {
        "unstaked": genuine,
        # The bid names bob, its envelope mallory: SenderMismatch.
        "sender mismatch": encode(seal_(in_bobs_name, nonce=2)),
        # The envelope names bob, but mallory signed it: BadSignature.
        "bad signature": encode(
            dataclasses.replace(seal_(in_bobs_name, nonce=3), sender=target.bob)
        ),
        "replay": genuine,
    }


def drops(home: Home) -> Counter[DropKey]:
    """The daemon's dropped-message counters from its /metrics."""
    text = ApiClient.for_home(home.root).get_text("/metrics")
    counts: Counter[DropKey] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "provernet_gossip_messages_dropped_total":
                counts["gossip", labels["topic"], labels["reason"]] += int(sample.value)
            elif sample.name == "provernet_direct_messages_dropped_total":
                counts["direct", labels["protocol"], labels["reason"]] += int(sample.value)
    return counts


@asynccontextmanager
async def attacker(
    target: Target, topic: str | None, key: bytes | None = None
) -> AsyncIterator[Node]:
    """A node dialing alice that publishes any bytes on ``topic`` (if any); ``key`` binds it."""
    topics = [raw_topic(topic, 2 * Envelope.MAX_SIZE)] if topic else []
    name = "mallory" if key else "throwaway"
    async with open_node(name, topics=topics, bootstrap=[target.addr], eth_key=key) as node:
        with trio.fail_after(20):
            await node.service.wait_until(lambda: target.peer in node.service.connected_peers())
            if topic:
                await node.service.wait_for_mesh(target.peer, topic, timeout_s=20)
        yield node


async def deliver_bid(node: Node, target: Target, data: bytes) -> str:
    """Send ``data`` on alice's direct bid stream: "accepted", or why she refused it."""
    try:
        await node.service.send_bid(target.peer, data)
    except Refused as exc:
        return f"refused: {exc}"
    return "accepted"


def chunks(items: Sequence[bytes], size: int) -> list[Sequence[bytes]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def attack(
    target: Target, garbage: dict[str, list[bytes]], alice: Home, before: Counter[DropKey]
) -> list[tuple[str, str]]:
    """Every hostile message; returns how alice's bid stream answered each.

    The nodes stay connected until alice has judged all the gossip (her counters
    show it): closing a node at once could cut off messages still in flight.
    """
    answers = []
    expected = 3 + len(garbage[BIDS_TOPIC]) + len(garbage[JOBS_TOPIC])  # 3: forged, replayed
    expected += 3 + len(garbage[BID_PROTOCOL])
    async with AsyncExitStack() as nodes:
        mallory = await nodes.enter_async_context(attacker(target, BIDS_TOPIC, MALLORY_KEY))
        for what, data in mallory_bids(target, mallory.peer_id).items():
            await mallory.service.publish(BIDS_TOPIC, data)
            answers.append((what, await deliver_bid(mallory, target, data)))
        for topic in (BIDS_TOPIC, JOBS_TOPIC):
            for chunk in chunks(garbage[topic], GOSSIP_PER_NODE):
                node = await nodes.enter_async_context(attacker(target, topic))
                for junk in chunk:
                    await node.service.publish(topic, junk)
        for chunk in chunks(garbage[BID_PROTOCOL], DIRECT_PER_NODE):
            node = await nodes.enter_async_context(attacker(target, None))
            for junk in chunk:
                answers.append(("garbage", await deliver_bid(node, target, junk)))
        with trio.fail_after(20):
            await wait_for_drops(alice, before.total() + expected)
    return answers


async def wait_for_drops(home: Home, total: int) -> None:
    """Return once ``home``'s counters show ``total`` dropped messages in all."""
    while (await trio.to_thread.run_sync(drops, home)).total() < total:  # noqa: ASYNC110 (HTTP)
        await trio.sleep(0.2)


def test_hostile_bids_are_dropped_and_the_job_still_settles(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    gemm_input: Path,
    capsys: pytest.CaptureFixture[str],
    ptau: Path,
) -> None:
    deployed, path = deployment
    with market(tmp_path, anvil, path, capsys, ["alice", "bob"], first_account=7) as homes:
        alice, bob = homes["alice"], homes["bob"]
        model = register(alice, capsys, str(gemm_onnx), "gemm", ptau)
        cli_json(bob, capsys, "stake", "deposit", "1eth")
        terms = ("--max-fee", "0.01eth", "--deadline", DEADLINE)
        _, submitted = submit_job(alice, capsys, model["id"], gemm_input, *terms, wait=False)
        key = str(submitted["id"])

        def created() -> dict[str, Any] | None:
            job: dict[str, Any] = cli_json(alice, capsys, "job", "status", key)
            return job if job["job_id"] is not None else None

        job = wait_for(created, 30, f"the job created on-chain\n{alice.log()}")
        onchain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(9)).get_job(job["job_id"])
        terms = JobTerms(bytes.fromhex(alice.address[2:]), onchain.model_id,
                         onchain.input_commitment, onchain.collateral, onchain.accept_window,
                         onchain.proof_window)  # fmt: skip
        target = Target(alice.multiaddr, ID.from_base58(alice.peer_id), anvil.chain_id,
                        bytes.fromhex(deployed.address("JobMarket")[2:]), job["job_id"],
                        job["bid_deadline"], terms, bytes.fromhex(bob.address[2:]))  # fmt: skip
        sample = mallory_bids(target, ID.from_base58(bob.peer_id))["unstaked"]
        garbage = {
            channel: draw_garbage(sample, GARBAGE)
            for channel in (BIDS_TOPIC, JOBS_TOPIC, BID_PROTOCOL)
        }
        before = drops(alice)
        answers = trio.run(attack, target, garbage, alice, before)
        dropped = drops(alice) - before

        def final() -> dict[str, Any] | None:
            job: dict[str, Any] = cli_json(alice, capsys, "job", "status", key)
            return job if job["final"] else None

        job = wait_for(final, 90, f"the job to settle\n{alice.log()}\n{bob.log()}")
        assert alice.alive()
        assert bob.alive()
        peers = cli_json(alice, capsys, "node", "peers")
        assert bob.peer_id in {p["peer_id"] for p in peers}

    # alice's bid stream took mallory's genuine bid and refused everything else.
    assert answers[0] == ("unstaked", "accepted")
    assert [what for what, _ in answers[1:4]] == ["sender mismatch", "bad signature", "replay"]
    refused = [answer for _, answer in answers[1:]]
    assert all(a.startswith("refused") for a in refused), refused
    assert len(refused) == 3 + GARBAGE

    # Her counters: every forged, replayed and garbled message dropped, nothing else.
    # Mallory has no stake: her genuine bid and its replay are not admitted to gossip
    # (the replay is refused before the replay cache is even asked).
    gossip = {key[1:]: n for key, n in dropped.items() if key[0] == "gossip"}
    assert gossip == {
        (BIDS_TOPIC, "malformed"): 2 + GARBAGE,  # the two forgeries and the garbage
        (BIDS_TOPIC, "not_admitted"): 2,  # the unstaked bid and its replay
        (JOBS_TOPIC, "malformed"): GARBAGE,
    }
    direct = {key[2]: n for key, n in dropped.items() if key[0] == "direct"}
    assert sum(direct.values()) == 3 + GARBAGE
    assert {"SenderMismatch", "BadSignature", "Replayed"} <= set(direct)

    # The job's bids: bob's, won at his price, and mallory's, invalid; nothing forged.
    bids = {b["prover"]: b for b in job["bids"]}
    mallory = dev_account(9).address
    assert sorted(bids) == sorted([bob.address, mallory]), job["bids"]
    assert len(job["bids"]) == 2, job["bids"]
    assert bids[mallory]["status"] == "invalid"
    assert "does not cover the collateral" in bids[mallory]["reason"]
    assert (job["state"], job["prover"]) == ("proven", bob.address)
    assert job["fee"] == bids[bob.address]["fee"] != "1"
    assert bids[bob.address]["status"] == "won"
    for home in (alice, bob):
        assert "Traceback" not in home.log(), home.log()
