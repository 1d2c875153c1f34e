"""Direct-stream framing: length + sha256 header, 256 KiB writes, caps, truncation, timeouts."""

from __future__ import annotations

import hashlib

import hypothesis.strategies as st
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from libp2p.network.stream.exceptions import StreamEOF, StreamReset

from node.p2p import FrameTooLarge, HashMismatch, P2PError, StreamFailed, StreamTimeout, Truncated
from node.p2p.framing import CHUNK_BYTES, HEADER, receive_frame, send_frame


class ScriptedStream:
    """A stream that replays ``incoming`` in reads of at most ``piece`` bytes, then ends."""

    def __init__(self, incoming: bytes = b"", piece: int = 1000, ending: str = "eof") -> None:
        self.incoming = bytearray(incoming)
        self.piece = piece
        self.ending = ending
        self.writes: list[bytes] = []

    async def read(self, n: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        if not self.incoming:
            if self.ending == "hang":
                await trio.sleep_forever()
            raise StreamEOF() if self.ending == "eof" else StreamReset()
        size = min(self.piece, n if n is not None else self.piece)
        data = bytes(self.incoming[:size])
        del self.incoming[:size]
        return data

    async def write(self, data: bytes) -> None:
        await trio.lowlevel.checkpoint()
        self.writes.append(data)


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body), hashlib.sha256(body).digest()) + body


async def test_a_frame_round_trips_in_256_kib_writes() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    sender = ScriptedStream()
    await send_frame(sender, body, timeout_s=5)
    assert max(len(w) for w in sender.writes) <= CHUNK_BYTES
    wire = b"".join(sender.writes)
    assert wire == frame(body)
    assert await receive_frame(ScriptedStream(wire, piece=70_000), len(body), 5) == body


async def test_a_small_frame_is_one_write() -> None:
    sender = ScriptedStream()
    await send_frame(sender, b"bid", timeout_s=5)
    assert sender.writes == [frame(b"bid")]


async def test_the_cap_is_checked_before_the_body_is_read() -> None:
    stream = ScriptedStream(frame(b"x" * 5000))
    with pytest.raises(FrameTooLarge):
        await receive_frame(stream, 4999, 5)
    assert len(stream.incoming) == 5000  # nothing of the body was read


async def test_a_sender_killed_mid_stream_is_truncation_not_a_short_message() -> None:
    wire = frame(b"y" * 10_000)
    with pytest.raises(Truncated):
        await receive_frame(ScriptedStream(wire[:-1]), 20_000, 5)
    with pytest.raises(Truncated):
        await receive_frame(ScriptedStream(wire[:20]), 20_000, 5)


async def test_wrong_bytes_for_the_announced_hash_are_detected() -> None:
    wire = bytearray(frame(b"z" * 1000))
    wire[-1] ^= 1
    with pytest.raises(HashMismatch):
        await receive_frame(ScriptedStream(bytes(wire)), 1000, 5)


async def test_a_reset_is_a_stream_failure() -> None:
    with pytest.raises(StreamFailed):
        await receive_frame(ScriptedStream(frame(b"a" * 100)[:50], ending="reset"), 100, 5)


async def test_every_read_has_a_timeout(autojump_clock: trio.testing.MockClock) -> None:
    start = trio.current_time()
    with pytest.raises(StreamTimeout):
        await receive_frame(ScriptedStream(frame(b"a" * 100)[:60], ending="hang"), 100, 7)
    assert trio.current_time() - start == pytest.approx(7)


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=300), piece=st.integers(1, 64))
def test_garbage_raises_only_p2p_errors(garbage: bytes, piece: int) -> None:
    async def read() -> None:
        try:
            await receive_frame(ScriptedStream(garbage, piece=piece), 200, 5)
        except P2PError:
            return

    trio.run(read)
