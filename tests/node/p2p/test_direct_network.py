"""Direct streams between real libp2p nodes: blobs checked by hash, inputs to one peer only."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import trio
from libp2p.abc import INetStream

from node.p2p import (
    BID_PROTOCOL,
    BLOB_PROTOCOL,
    INPUT_PROTOCOL,
    DirectMessage,
    DirectRules,
    FrameTooLarge,
    HashMismatch,
    NotBound,
    Refused,
    Truncated,
    envelope_delivery,
)
from node.p2p.framing import receive_frame, send_frame, write_all
from protocol.messages import (
    Bid,
    BlobHeader,
    ErrorCode,
    InputDelivery,
    ReplayGuard,
    decode_as,
    encode,
)
from protocol.messages.types import MAX_INPUT_FRAME
from tests.node.p2p.nodes import Node, open_node
from tests.node.p2p.wire import (
    ALICE,
    ALICE_KEY,
    BOB,
    BOB_KEY,
    CAROL,
    CAROL_KEY,
    CHAIN_ID,
    sealed_bid,
)

MB = 1 << 20


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def input_rules() -> DirectRules:
    return DirectRules(MAX_INPUT_FRAME, lambda data: decode_as(data, InputDelivery))


async def test_blobs_of_a_few_mb_arrive_checked_from_memory_and_from_files(
    tmp_path: Path,
) -> None:
    in_memory, on_disk = os.urandom(4 * MB), os.urandom(3 * MB + 17)
    stored = tmp_path / "circuit.bin"
    stored.write_bytes(on_disk)
    served: dict[bytes, bytes | Path] = {sha(in_memory): in_memory, sha(on_disk): stored}
    async with open_node("bob", blobs=served.get) as bob:  # noqa: SIM117 (bob listens first)
        async with open_node("alice", bootstrap=[bob.addr()]) as alice:
            with trio.fail_after(30):
                assert await alice.service.fetch_blob(bob.peer_id, sha(in_memory)) == in_memory
                target = tmp_path / "fetched" / "model.onnx"
                target.parent.mkdir()
                fetched = alice.service.fetch_blob_to_file
                assert await fetched(bob.peer_id, sha(on_disk), target) == len(on_disk)
                assert target.read_bytes() == on_disk
                with pytest.raises(Refused) as refused:
                    await alice.service.fetch_blob(bob.peer_id, sha(b"nobody has this"))
                assert refused.value.code == ErrorCode.NOT_FOUND
                assert not (tmp_path / "fetched" / "model.onnx.part").exists()
            now = trio.current_time()
            assert alice.service.peers.score(bob.peer_id, now) == 0  # no fault so far
            with trio.fail_after(30), pytest.raises(FrameTooLarge):
                await alice.service.fetch_blob(bob.peer_id, sha(in_memory), max_bytes=MB)
            assert alice.service.peers.score(bob.peer_id, trio.current_time()) < 0


async def serve_half_then_die(stream: INetStream) -> None:
    """A blob server killed mid-stream: the header promises more than arrives."""
    await receive_frame(stream, 1024, 5)
    blob = bytes(MB)
    await send_frame(stream, encode(BlobHeader(sha(blob), len(blob))), 5)
    await write_all(stream, blob[: len(blob) // 2], 5)
    await stream.close()


async def test_short_or_wrong_blob_bytes_are_caught_and_their_sender_banned(
    tmp_path: Path,
) -> None:
    wanted, substitute = os.urandom(MB), os.urandom(MB)
    async with open_node("mallory", blobs={sha(wanted): substitute}.get) as mallory:  # noqa: SIM117
        async with open_node("alice", bootstrap=[mallory.addr()]) as alice:
            with trio.fail_after(30):
                await alice.service.wait_until(
                    lambda: mallory.peer_id in alice.service.connected_peers()
                )
                with pytest.raises(HashMismatch):
                    await alice.service.fetch_blob(mallory.peer_id, sha(wanted))
                mallory.service.host.set_stream_handler(BLOB_PROTOCOL, serve_half_then_die)
                target = tmp_path / "blob"
                with pytest.raises(Truncated):
                    await alice.service.fetch_blob_to_file(mallory.peer_id, sha(bytes(MB)), target)
                assert not target.exists()
                assert not (tmp_path / "blob.part").exists()
                await alice.service.wait_until(
                    lambda: mallory.peer_id not in alice.service.connected_peers()
                )
            assert alice.service.peers.is_banned(mallory.peer_id, trio.current_time())


async def bound(node: Node, *others: Node) -> None:
    book = node.service.peers
    await node.service.wait_until(lambda: all(book.account_of(o.peer_id) for o in others))


async def test_an_input_reaches_only_the_awarded_prover() -> None:
    delivery = InputDelivery(job_id=7, values=(1, -2, 3), salt=99)
    bids = envelope_delivery(Bid, CHAIN_ID, ReplayGuard(), time.time)
    async with (
        open_node("alice", eth_key=ALICE_KEY, bids=bids) as alice,
        open_node("bob", eth_key=BOB_KEY, inputs=input_rules(), bootstrap=[alice.addr()]) as bob,
        open_node(
            "carol", eth_key=CAROL_KEY, inputs=input_rules(), bootstrap=[alice.addr()]
        ) as carol,
    ):
        with trio.fail_after(20):
            await bound(alice, bob, carol)
            await bound(bob, alice)
            assert alice.service.peers.account_of(bob.peer_id) == BOB
            assert alice.service.peers.account_of(carol.peer_id) == CAROL
            await alice.service.send_input(bob.peer_id, encode(delivery), account=BOB)
            got = await bob.next_message()
            assert isinstance(got, DirectMessage)
            assert (got.protocol, got.message) == (INPUT_PROTOCOL, delivery)
            assert (got.peer, got.account) == (alice.peer_id, ALICE)
            with pytest.raises(NotBound):
                await alice.service.send_input(carol.peer_id, encode(delivery), account=BOB)
            with pytest.raises(Refused) as refused:
                await alice.service.send_input(bob.peer_id, b"\x92\x20\x90")
            assert refused.value.code == ErrorCode.MALFORMED
            offer = sealed_bid(CAROL_KEY, carol.peer_id, job_id=7, fee=10**15, nonce=1)
            await carol.service.send_bid(alice.peer_id, offer)
            bid = await alice.next_message()
            assert (bid.protocol, bid.data, bid.account) == (BID_PROTOCOL, offer, CAROL)
            assert isinstance(bid.message.message, Bid)
            assert bid.message.message.fee == 10**15
            with pytest.raises(Refused):  # the same envelope again is a replay
                await carol.service.send_bid(alice.peer_id, offer)
        assert bob.service.direct_dropped[(INPUT_PROTOCOL, "MalformedMessage")] == 1
        assert alice.service.direct_dropped[(BID_PROTOCOL, "Replayed")] == 1
        carol.assert_inbox_empty()
        bob.assert_inbox_empty()
