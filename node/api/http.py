"""HTTP/1.1 on one connection: h11 parses, this module moves bytes and enforces limits.

``serve_connection`` reads a request (headers and body under ``Limits``), asks
``respond`` for the answer and writes it, then does it again while the client
keeps the connection alive, up to ``max_requests_per_connection``. Each request
must arrive whole within ``request_timeout_s`` of the server starting to wait for
it (idle keep-alive time included), which closes slow-loris connections; each
answer must be taken by the client within ``write_timeout_s``. A request that
breaks HTTP or a limit gets a JSON error and the connection is closed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import h11
import trio

# One read; h11's own examples use 64 KiB.
RECEIVE_SIZE = 65536
# After an error answer, how long unread request bytes are drained before closing, so
# the client's kernel does not reset the connection before it reads the answer.
LINGER_S = 0.5
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Limits:
    """What one client may take from the server."""

    max_body_bytes: int = 1 << 20  # job inputs are kilobytes; models travel by path, not here
    max_header_bytes: int = 16 * 1024  # nginx's large_client_header_buffers is 4 x 8 KiB
    request_timeout_s: float = 10.0
    write_timeout_s: float = 10.0
    max_requests_per_connection: int = 100
    max_connections: int = 64


@dataclass(frozen=True)
class HttpRequest:
    """A whole request: method, target, headers (lower-case names), body bytes."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpResponse:
    """A whole answer."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def error_response(
    status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None
) -> HttpResponse:
    """The JSON error answer ``{"error": {"code": ..., "message": ...}}``."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return HttpResponse(status, body, headers=headers or [])


class _RefusedError(Exception):
    """The request cannot be served; answer with ``response`` and close."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status)
        self.response = response


Responder = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def serve_connection(stream: trio.abc.Stream, limits: Limits, respond: Responder) -> None:
    """Serve requests on ``stream`` until the client or a limit ends the connection."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
    try:
        for served in range(1, limits.max_requests_per_connection + 1):
            request = await _receive_or_refuse(stream, conn, limits)
            if request is None:
                return
            response = await respond(request)
            last = served == limits.max_requests_per_connection
            if not await _send_response(stream, conn, response, close=last, limits=limits):
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return  # the client went away


async def _receive_or_refuse(
    stream: trio.abc.Stream, conn: h11.Connection, limits: Limits
) -> HttpRequest | None:
    """The next request, or None once the connection is to be closed."""
    try:
        with trio.fail_after(limits.request_timeout_s):
            return await _receive(stream, conn, limits)
    except trio.TooSlowError:
        if conn.their_state is h11.IDLE and not conn.trailing_data[0]:
            return None  # an idle keep-alive connection: close it quietly
        refusal = error_response(408, "timeout", "the request did not arrive in time")
    except h11.RemoteProtocolError as exc:
        refusal = error_response(exc.error_status_hint, "bad_http", str(exc) or "malformed HTTP")
    except _RefusedError as exc:
        refusal = exc.response
    await _send_response(stream, conn, refusal, close=True, limits=limits)
    await _linger(stream)
    return None


async def _receive(
    stream: trio.abc.Stream, conn: h11.Connection, limits: Limits
) -> HttpRequest | None:
    event = await _next_event(stream, conn)
    if isinstance(event, h11.ConnectionClosed):
        return None
    assert isinstance(event, h11.Request), event  # h11 yields nothing else in this state
    # h11 caps only a head still incomplete after a read; one read can bring a whole big one.
    head_size = len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
    if head_size > limits.max_header_bytes:
        message = f"the request head is over {limits.max_header_bytes} bytes"
        raise _RefusedError(error_response(431, "headers_too_large", message))
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}
    if int(headers.get("content-length", "0")) > limits.max_body_bytes:
        raise _RefusedError(_too_large(limits))
    if conn.they_are_waiting_for_100_continue:
        await _send_all(stream, conn.send(h11.InformationalResponse(status_code=100, headers=[])))
    body = bytearray()
    while True:
        part = await _next_event(stream, conn)
        if isinstance(part, h11.Data):
            body += part.data
            if len(body) > limits.max_body_bytes:
                raise _RefusedError(_too_large(limits))
        elif isinstance(part, h11.EndOfMessage):
            break
        elif isinstance(part, h11.ConnectionClosed):
            return None
    method, target = event.method.decode("ascii"), event.target.decode("latin-1")
    return HttpRequest(method, target, headers, bytes(body))


def _too_large(limits: Limits) -> HttpResponse:
    message = f"the request body is over {limits.max_body_bytes} bytes"
    return error_response(413, "payload_too_large", message)


async def _next_event(stream: trio.abc.Stream, conn: h11.Connection) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await stream.receive_some(RECEIVE_SIZE))


async def _send_response(
    stream: trio.abc.Stream,
    conn: h11.Connection,
    response: HttpResponse,
    *,
    close: bool,
    limits: Limits,
) -> bool:
    """Write ``response``; False when it could not be written (or h11 cannot send one now)."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return False
    headers = [
        ("content-type", response.content_type),
        ("content-length", str(len(response.body))),
        ("cache-control", "no-store"),
        *response.headers,
    ]
    if close:
        headers.append(("connection", "close"))
    reason = REASONS.get(response.status, "")
    head = h11.Response(status_code=response.status, headers=headers, reason=reason)
    with trio.move_on_after(limits.write_timeout_s):
        await _send_all(stream, conn.send(head))
        await _send_all(stream, conn.send(h11.Data(data=response.body)))
        await _send_all(stream, conn.send(h11.EndOfMessage()))
        return True
    return False


async def _send_all(stream: trio.abc.Stream, data: bytes | None) -> None:
    if data:
        await stream.send_all(data)


async def _linger(stream: trio.abc.Stream) -> None:
    """Stop sending, then drain what the client still sends for up to LINGER_S."""
    with trio.move_on_after(LINGER_S):
        if isinstance(stream, trio.SocketStream):
            await stream.send_eof()
        while await stream.receive_some(RECEIVE_SIZE):
            pass
