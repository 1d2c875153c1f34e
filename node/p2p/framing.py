"""Our own framing for direct streams (LIBP2P_NOTES item 6).

A frame is a 40-byte header, the body's length (u64, big-endian) and its sha256,
followed by the body written in 256 KiB pieces. The reader checks the length
against its cap before reading anything else, reads with its own loop and a
timeout on every read, and checks the hash at the end: a sender killed mid-stream
looks like an ordinary end of stream, and only the length and hash tell.

Blobs use the same body loop after a ``BlobHeader`` message, streaming into a
sink (memory or file) while hashing, so a blob is never held twice.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import trio
from libp2p.io.exceptions import IOException

from node.p2p.errors import FrameTooLarge, HashMismatch, StreamFailed, StreamTimeout, Truncated

HEADER = struct.Struct(">Q32s")
# 256 KiB writes: the size at which LIBP2P_NOTES measured 90-118 MB/s over Noise + Yamux.
CHUNK_BYTES = 256 * 1024


class ByteStream(Protocol):
    """The part of a libp2p stream the framing uses."""

    async def read(self, n: int | None = None) -> bytes: ...

    async def write(self, data: bytes) -> None: ...


async def write_all(stream: ByteStream, data: bytes | memoryview, timeout_s: float) -> None:
    """Write ``data`` in 256 KiB pieces, each within ``timeout_s``."""
    view = memoryview(data)
    for start in range(0, len(view), CHUNK_BYTES):
        with _deadline(timeout_s, "write"), _transport_errors():
            await stream.write(bytes(view[start : start + CHUNK_BYTES]))


async def send_frame(stream: ByteStream, body: bytes, timeout_s: float) -> None:
    """Write one frame: header (length, sha256) and body."""
    header = HEADER.pack(len(body), hashlib.sha256(body).digest())
    await write_all(stream, header + body if len(body) <= CHUNK_BYTES else header, timeout_s)
    if len(body) > CHUNK_BYTES:
        await write_all(stream, body, timeout_s)


async def receive_frame(stream: ByteStream, max_bytes: int, timeout_s: float) -> bytes:
    """Read one frame of at most ``max_bytes``; raises a PeerFault or StreamFailed."""
    header = await read_exactly(stream, HEADER.size, timeout_s)
    length, digest = HEADER.unpack(header)
    if length > max_bytes:
        raise FrameTooLarge(f"a frame of {length} bytes exceeds this stream's {max_bytes}")
    body = bytearray()

    async def append(piece: bytes) -> None:
        body.extend(piece)

    await receive_body(stream, length, digest, append, timeout_s)
    return bytes(body)


async def read_exactly(stream: ByteStream, count: int, timeout_s: float) -> bytes:
    """Exactly ``count`` bytes; ``Truncated`` if the stream ends first."""
    data = bytearray()
    while len(data) < count:
        piece = await _read_some(stream, count - len(data), timeout_s)
        if not piece:
            raise Truncated(f"the stream ended after {len(data)} of {count} bytes")
        data.extend(piece)
    return bytes(data)


async def receive_body(
    stream: ByteStream,
    length: int,
    sha256: bytes,
    sink: Callable[[bytes], Awaitable[object]],
    timeout_s: float,
) -> None:
    """Pass ``length`` bytes to ``sink`` as they arrive; check their sha256 at the end."""
    hasher = hashlib.sha256()
    remaining = length
    while remaining:
        piece = await _read_some(stream, min(remaining, CHUNK_BYTES), timeout_s)
        if not piece:
            raise Truncated(f"the stream ended {remaining} bytes short of {length}")
        hasher.update(piece)
        await sink(piece)
        remaining -= len(piece)
    if hasher.digest() != sha256:
        raise HashMismatch(f"the {length} bytes received do not hash to 0x{sha256.hex()}")


async def _read_some(stream: ByteStream, limit: int, timeout_s: float) -> bytes:
    """Up to ``limit`` bytes; empty at the end of the stream."""
    with _deadline(timeout_s, "read"), _transport_errors():
        try:
            piece = await stream.read(limit)
        except EOFError:  # libp2p's StreamEOF: the sender closed (or died)
            return b""
    if len(piece) > limit:
        raise StreamFailed(f"the stream returned {len(piece)} bytes when {limit} were asked")
    return piece


@contextmanager
def _deadline(timeout_s: float, what: str) -> Iterator[None]:
    try:
        with trio.fail_after(timeout_s):
            yield
    except trio.TooSlowError:
        raise StreamTimeout(f"a {what} on a direct stream took over {timeout_s} s") from None


@contextmanager
def _transport_errors() -> Iterator[None]:
    # Resets, closed streams and dead connections surface as libp2p IOExceptions.
    try:
        yield
    except IOException as exc:
        raise StreamFailed(f"the stream broke: {type(exc).__name__}: {exc}") from exc
