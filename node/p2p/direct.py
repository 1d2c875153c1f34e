"""Direct streams: one protocol id per purpose, request/response over our framing.

Every stream carries one exchange: the opener sends one frame, the handler
answers with one frame (and, for blobs, the blob's bytes), then both close. A
delivery (input, bid, record) is answered with an empty frame when accepted or
an encoded ``ErrorReply`` when refused. A blob request is answered with an
``ErrorReply`` or with a ``BlobHeader`` (sha256, length) followed by exactly
``length`` raw bytes, which the fetcher checks against the sha256 it asked for.
Noise authenticates the remote peer id of every stream, so a stream opened to a
peer id reaches that peer and no other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from node.p2p.errors import (
    BadMessage,
    FrameTooLarge,
    HashMismatch,
    Refused,
    StreamFailed,
    StreamTimeout,
)
from node.p2p.framing import CHUNK_BYTES, receive_body, receive_frame, send_frame, write_all
from protocol.errors import RemoteProtocolError
from protocol.messages import BlobHeader, BlobRequest, ErrorCode, ErrorReply, decode, encode

INPUT_PROTOCOL = TProtocol("/provernet/input/1")
BLOB_PROTOCOL = TProtocol("/provernet/blob/1")
BID_PROTOCOL = TProtocol("/provernet/bid/1")
RECORD_PROTOCOL = TProtocol("/provernet/record/1")

ACCEPTED = b""
BlobLookup = Callable[[bytes], bytes | Path | None]


@asynccontextmanager
async def open_direct_stream(
    host: IHost, peer: ID, protocol: TProtocol, timeout_s: float
) -> AsyncIterator[INetStream]:
    """A stream to ``peer`` on ``protocol`` (dialing if needed), closed on exit."""
    try:
        with trio.fail_after(timeout_s):
            stream = await host.new_stream(peer, [protocol])
    except trio.TooSlowError:
        raise StreamTimeout(f"opening {protocol} to {peer} took over {timeout_s} s") from None
    except Exception as exc:  # libp2p raises many unrelated classes for a failed dial
        raise StreamFailed(f"cannot open {protocol} to {peer}: {exc!r}") from exc
    try:
        yield stream
    except BaseException:
        with trio.CancelScope(shield=True):
            await _reset(stream)
        raise
    with trio.CancelScope(shield=True):
        await close_quietly(stream)


async def request(
    host: IHost, peer: ID, protocol: TProtocol, body: bytes, max_reply: int, timeout_s: float
) -> bytes:
    """Send one frame to ``peer`` and return its one-frame reply."""
    async with open_direct_stream(host, peer, protocol, timeout_s) as stream:
        await send_frame(stream, body, timeout_s)
        return await receive_frame(stream, max_reply, timeout_s)


async def deliver(
    host: IHost, peer: ID, protocol: TProtocol, body: bytes, timeout_s: float
) -> None:
    """Send one message to ``peer``; raises ``Refused`` if it answers with an ErrorReply."""
    reply = await request(host, peer, protocol, body, ErrorReply.MAX_SIZE, timeout_s)
    if reply != ACCEPTED:
        refusal = _decode_reply(reply, ErrorReply)
        assert isinstance(refusal, ErrorReply)
        raise Refused(refusal.code, refusal.reason)


def refusal(code: ErrorCode, reason: str) -> bytes:
    """The reply frame body that refuses a request."""
    return encode(ErrorReply(int(code), reason[:256]))


async def fetch_blob(
    host: IHost,
    peer: ID,
    sha256: bytes,
    max_bytes: int,
    timeout_s: float,
    sink: Callable[[bytes], Awaitable[object]],
) -> int:
    """Fetch the blob ``sha256`` from ``peer`` into ``sink``; returns its length.

    Raises ``Refused`` (peer lacks it), a ``PeerFault`` (wrong or short bytes, too
    large) or ``StreamFailed``; on any error ``sink`` may have received a prefix.
    """
    async with open_direct_stream(host, peer, BLOB_PROTOCOL, timeout_s) as stream:
        await send_frame(stream, encode(BlobRequest(sha256)), timeout_s)
        reply_cap = max(BlobHeader.MAX_SIZE, ErrorReply.MAX_SIZE)
        reply = _decode_reply(await receive_frame(stream, reply_cap, timeout_s), BlobHeader)
        if isinstance(reply, ErrorReply):
            raise Refused(reply.code, reply.reason)
        assert isinstance(reply, BlobHeader)
        if reply.sha256 != sha256:
            raise HashMismatch(f"asked for 0x{sha256.hex()}, offered 0x{reply.sha256.hex()}")
        if reply.length > max_bytes:
            raise FrameTooLarge(f"blob of {reply.length} bytes exceeds the cap of {max_bytes}")
        await receive_body(stream, reply.length, sha256, sink, timeout_s)
        return reply.length


async def serve_blob(stream: INetStream, lookup: BlobLookup, timeout_s: float) -> None:
    """Answer one blob request on ``stream`` from ``lookup``."""
    body = await receive_frame(stream, BlobRequest.MAX_SIZE, timeout_s)
    wanted = _decode_reply(body, BlobRequest)
    assert isinstance(wanted, BlobRequest)
    source = lookup(wanted.sha256)
    if source is None:
        reason = f"no blob 0x{wanted.sha256.hex()}"
        await send_frame(stream, refusal(ErrorCode.NOT_FOUND, reason), timeout_s)
    elif isinstance(source, bytes):
        await send_frame(stream, encode(BlobHeader(wanted.sha256, len(source))), timeout_s)
        await write_all(stream, source, timeout_s)
    else:
        await _send_file(stream, wanted.sha256, source, timeout_s)


async def _send_file(stream: INetStream, sha256: bytes, path: Path, timeout_s: float) -> None:
    async with await trio.open_file(path, "rb") as file:
        length = (await trio.Path(path).stat()).st_size
        await send_frame(stream, encode(BlobHeader(sha256, length)), timeout_s)
        while piece := await file.read(CHUNK_BYTES):
            await write_all(stream, piece, timeout_s)


def _decode_reply(body: bytes, expected: type[object]) -> object:
    """The message in ``body``: ``expected`` or an ErrorReply; BadMessage otherwise."""
    allowed = (expected, ErrorReply) if expected is not ErrorReply else (ErrorReply,)
    try:
        return decode(body, allowed)  # type: ignore[arg-type]
    except RemoteProtocolError as exc:
        raise BadMessage(f"not a {expected.__name__} or ErrorReply: {exc}") from exc


async def close_quietly(stream: INetStream) -> None:
    """Close ``stream``, resetting it if the peer already dropped it."""
    try:
        await stream.close()
    except Exception:  # closing a stream the peer already dropped is not an error
        await _reset(stream)


async def _reset(stream: INetStream) -> None:
    try:
        await stream.reset()
    except Exception:  # best effort: the connection may be gone
        return
