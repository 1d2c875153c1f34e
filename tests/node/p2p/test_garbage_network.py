"""Hostile bytes from a live peer, on every topic and every direct protocol, never crash a node."""

from __future__ import annotations

import hypothesis.strategies as st
import trio
from hypothesis import HealthCheck, given, settings

from node.p2p import (
    BID_PROTOCOL,
    HEARTBEATS_TOPIC,
    INPUT_PROTOCOL,
    RECORD_PROTOCOL,
    TOPICS,
    DirectRules,
    P2PError,
    ScorePolicy,
)
from node.p2p.direct import open_direct_stream
from node.p2p.framing import write_all
from protocol.messages import InputDelivery, decode_as
from protocol.messages.types import MAX_INPUT_FRAME
from tests.node.p2p.nodes import Node, market_rules, open_node, raw_topic
from tests.node.p2p.wire import ALICE_KEY, BOB_KEY, sealed_heartbeat

# Bans would cut mallory off before all the garbage is delivered; this test is about survival.
LENIENT = ScorePolicy(ban_threshold=-1e12)


async def spray_streams(mallory: Node, bob: Node, garbage: list[bytes]) -> None:
    """Open a stream per protocol and write raw garbage (no framing) into it."""
    for index, junk in enumerate(garbage):
        protocol = (INPUT_PROTOCOL, BID_PROTOCOL, RECORD_PROTOCOL)[index % 3]
        try:
            async with open_direct_stream(mallory.service.host, bob.peer_id, protocol, 5) as s:
                await write_all(s, junk, 5)
        except P2PError:
            continue  # bob may hang up first: that is a fine outcome


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
# At most 4 x 7 = 28 messages in a burst: gossipsub's per-peer send queue holds 32 and
# drops the rest silently (LIBP2P_NOTES item 4).
@given(garbage=st.lists(st.binary(min_size=1, max_size=600), min_size=1, max_size=7))
async def test_garbage_on_every_topic_and_protocol_leaves_the_node_working(
    garbage: list[bytes],
) -> None:
    inputs = DirectRules(MAX_INPUT_FRAME, lambda data: decode_as(data, InputDelivery))

    async with open_node(
        "bob", topics=market_rules(), inputs=inputs, bids=inputs, score=LENIENT, eth_key=BOB_KEY
    ) as bob:
        raw = [raw_topic(topic, 10_000) for topic in TOPICS]
        async with (
            open_node("mallory", topics=raw, bootstrap=[bob.addr()]) as mallory,
            open_node("alice", topics=market_rules(), bootstrap=[bob.addr()]) as alice,
        ):
            with trio.fail_after(15):
                for topic in TOPICS:
                    await mallory.service.wait_for_mesh(bob.peer_id, topic)
                await bob.service.wait_for_mesh(alice.peer_id, HEARTBEATS_TOPIC)
                for topic in TOPICS:
                    for junk in garbage:
                        await mallory.service.publish(topic, junk)
                await spray_streams(mallory, bob, garbage)
                expected = len(TOPICS) * len(garbage)
                gossip = bob.service.gossip
                await bob.service.wait_until(
                    lambda: sum(gossip.judged(t) for t in TOPICS) == expected
                )
                assert sum(gossip.accepted.values()) == 0
                data = sealed_heartbeat(ALICE_KEY, alice.peer_id, nonce=1)
                await alice.service.publish(HEARTBEATS_TOPIC, data)
                assert (await bob.next_message()).data == data
            bob.assert_inbox_empty()
