"""Gossip between real libp2p nodes on 127.0.0.1: mesh formation, validation, rate limits."""

from __future__ import annotations

import trio
from libp2p.crypto.ed25519 import create_new_key_pair

from node.p2p import HEARTBEATS_TOPIC, Drop, GossipMessage, ScorePolicy, peer_id_of
from protocol.messages import ProverHeartbeat, Verified
from tests.node.p2p.nodes import Node, free_tcp_port, market_rules, open_node, raw_topic
from tests.node.p2p.wire import ALICE, ALICE_KEY, BOB_KEY, CAROL_KEY, sealed_heartbeat

FLOOD_TOPIC = "/test/flood/1"


async def connected(node: Node, *others: Node) -> None:
    peers = {other.peer_id for other in others}
    await node.service.wait_until(lambda: peers <= set(node.service.connected_peers()))


async def test_three_nodes_mesh_through_a_bootstrap_node_that_starts_last() -> None:
    boot_key, port = create_new_key_pair(), free_tcp_port()
    boot_addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_of(boot_key)}"
    async with (
        open_node("alice", topics=market_rules(), bootstrap=[boot_addr]) as alice,
        open_node("bob", topics=market_rules(), bootstrap=[boot_addr]) as bob,
        open_node("carol", topics=market_rules(), bootstrap=[boot_addr]) as carol,
    ):
        assert alice.service.connected_peers() == []
        boot_id = peer_id_of(boot_key)
        with trio.fail_after(20):  # each has failed to reach boot (libp2p now blocks it 60 s)
            for service in (alice.service, bob.service, carol.service):
                failures = service.dial_failures
                await service.wait_until(lambda: failures[boot_id] >= 1)  # noqa: B023
        listen = f"/ip4/127.0.0.1/tcp/{port}"
        async with open_node(
            "boot", topics=market_rules(), listen=listen, key_pair=boot_key
        ) as boot:
            with trio.fail_after(20):
                await connected(boot, alice, bob, carol)
                for node in (alice, bob, carol):
                    await boot.service.wait_for_mesh(node.peer_id, HEARTBEATS_TOPIC)
                await alice.service.wait_for_mesh(boot.peer_id, HEARTBEATS_TOPIC)
                data = sealed_heartbeat(ALICE_KEY, alice.peer_id, nonce=1, capacity=3)
                await alice.service.publish(HEARTBEATS_TOPIC, data)
                for node in (bob, carol):
                    got = await node.next_message()
                    assert isinstance(got, GossipMessage)
                    assert (got.topic, got.origin, got.data) == (
                        HEARTBEATS_TOPIC,
                        alice.peer_id,
                        data,
                    )
                    assert isinstance(got.message, Verified)
                    assert got.message.sender == ALICE
                    assert isinstance(got.message.message, ProverHeartbeat)
                    assert got.message.message.capacity == 3
        alice.assert_inbox_empty()  # a node does not hear its own messages back
        for node in (alice, bob, carol):
            assert not node.service.gossip.dropped


async def test_invalid_gossip_is_dropped_not_relayed_and_its_sender_banned() -> None:
    # No score recovery, so the ban below does not depend on how fast the test runs.
    strict = ScorePolicy(ban_threshold=-100.0, recovery_per_s=0.0, ban_s=600.0)
    async with open_node("bob", topics=market_rules(), score=strict) as bob:  # noqa: SIM117
        async with (
            open_node("carol", topics=market_rules(), bootstrap=[bob.addr()]) as carol,
            open_node(
                "mallory", topics=[raw_topic(HEARTBEATS_TOPIC, 10_000)], bootstrap=[bob.addr()]
            ) as mallory,
        ):
            with trio.fail_after(20):
                await bob.service.wait_for_mesh(carol.peer_id, HEARTBEATS_TOPIC)
                await bob.service.wait_for_mesh(mallory.peer_id, HEARTBEATS_TOPIC)
                await mallory.service.wait_for_mesh(bob.peer_id, HEARTBEATS_TOPIC)
                peer = mallory.peer_id
                valid = sealed_heartbeat(BOB_KEY, peer, nonce=1)
                await mallory.service.publish(HEARTBEATS_TOPIC, valid)
                assert (await carol.next_message()).data == valid
                forged = bytearray(sealed_heartbeat(BOB_KEY, peer, nonce=2))
                forged[-5] ^= 0xFF
                for garbage in (
                    valid,  # replayed
                    b"\x92\x01\x90 not an envelope",  # malformed
                    b"\x00" * 5000,  # oversized
                    sealed_heartbeat(BOB_KEY, peer, nonce=3, unsigned=True),
                    bytes(forged),
                    sealed_heartbeat(BOB_KEY, peer, nonce=4, now=1_600_000_000),  # expired
                ):
                    await mallory.service.publish(HEARTBEATS_TOPIC, garbage)
                await bob.service.wait_until(lambda: peer not in bob.service.connected_peers())
            dropped = {reason: n for (_, reason), n in bob.service.gossip.dropped.items()}
            assert dropped == {Drop.REJECTED: 1, Drop.MALFORMED: 4, Drop.OVERSIZED: 1}
            assert bob.service.peers.is_banned(peer, trio.current_time())
            # Bob's own next message reaches carol behind anything he might have relayed.
            last = sealed_heartbeat(CAROL_KEY, bob.peer_id, nonce=5)
            await bob.service.publish(HEARTBEATS_TOPIC, last)
            with trio.fail_after(10):
                assert (await carol.next_message()).data == last
            carol.assert_inbox_empty()
            assert not carol.service.gossip.dropped


async def test_a_flood_from_one_peer_is_cut_while_others_get_through() -> None:
    guarded = raw_topic(FLOOD_TOPIC, rate=1.0, burst=5.0)
    anything = [raw_topic(FLOOD_TOPIC)]
    async with open_node("bob", topics=[guarded]) as bob:  # noqa: SIM117 (bob listens first)
        async with (
            open_node("alice", topics=anything, bootstrap=[bob.addr()]) as alice,
            open_node("mallory", topics=anything, bootstrap=[bob.addr()]) as mallory,
        ):
            gossip = bob.service.gossip
            with trio.fail_after(20):
                for node in (alice, mallory):
                    await node.service.wait_for_mesh(bob.peer_id, FLOOD_TOPIC)
                for index in range(30):
                    await mallory.service.publish(FLOOD_TOPIC, b"spam %d" % index)
                for index in range(3):
                    await alice.service.publish(FLOOD_TOPIC, b"hello %d" % index)
                await bob.service.wait_until(lambda: gossip.judged(FLOOD_TOPIC) == 33)
                received = [
                    (await bob.next_message()).data for _ in range(gossip.accepted[FLOOD_TOPIC])
                ]
            bob.assert_inbox_empty()
            hellos = sorted(m for m in received if m.startswith(b"hello"))
            assert hellos == [b"hello 0", b"hello 1", b"hello 2"]
            spam = len(received) - len(hellos)
            assert 5 <= spam <= 6  # the burst, plus a token if a second went by
            assert gossip.dropped[(FLOOD_TOPIC, Drop.RATE_LIMITED)] == 30 - spam
            assert bob.service.peers.score(mallory.peer_id, trio.current_time()) < 0
            assert bob.service.peers.score(alice.peer_id, trio.current_time()) == 0
