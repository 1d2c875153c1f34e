"""A running API server in a tmp home, with test routes, and raw-socket helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from node.api import (
    ApiClient,
    ApiRequest,
    ApiServer,
    EventLog,
    Limits,
    Readiness,
    Routes,
    add_node_routes,
    long_poll,
)
from node.metrics import Metrics
from protocol.errors import RemoteProtocolError

# Short enough that timeout tests finish in about a second.
TEST_LIMITS = Limits(
    max_body_bytes=4096,
    max_header_bytes=2048,
    request_timeout_s=0.5,
    write_timeout_s=0.5,
    max_requests_per_connection=3,
    max_connections=8,
)


@dataclass
class Daemon:
    """What a test needs of one running API."""

    home: Path
    server: ApiServer
    metrics: Metrics
    readiness: Readiness
    log: EventLog
    calls: list[ApiRequest] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def client(self) -> ApiClient:
        return ApiClient.for_home(self.home)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the sync client from a worker thread, as the CLI would."""
        client = self.client()
        return await trio.to_thread.run_sync(lambda: getattr(client, method)(*args, **kwargs))


def build_routes(daemon_ref: list[Daemon], metrics: Metrics, readiness: Readiness) -> Routes:
    """The node routes plus routes that exercise every outcome."""
    routes = Routes()
    add_node_routes(
        routes, metrics=metrics, readiness=readiness, status_source=lambda: {"role": "prover"}
    )

    async def job(request: ApiRequest) -> object:
        daemon_ref[0].calls.append(request)
        return {"id": request.params["id"], "verbose": request.query_int("verbose", 0)}

    async def echo(request: ApiRequest) -> object:
        return {"got": request.json_object(), "n": request.field("n", int)}

    async def invalid(request: ApiRequest) -> object:
        raise RemoteProtocolError("the amount has no unit")

    async def boom(request: ApiRequest) -> object:
        raise RuntimeError("secret internal detail")

    async def events(request: ApiRequest) -> object:
        return await long_poll(daemon_ref[0].log, request)

    routes.get("/jobs/{id:int}", job)
    routes.get("/jobs/active", lambda request: _const(["active"]))
    routes.get("/jobs/{id:int}/events", events)
    routes.post("/echo", echo)
    routes.post("/invalid", invalid)
    routes.get("/boom", boom)
    return routes


async def _const(value: object) -> object:
    return value


async def start_daemon(nursery: trio.Nursery, home: Path, limits: Limits = TEST_LIMITS) -> Daemon:
    """Start an API server for ``home`` on a random port."""
    metrics, readiness = Metrics(), Readiness()
    ref: list[Daemon] = []
    server = ApiServer(
        build_routes(ref, metrics, readiness), home=home, limits=limits, readiness=readiness
    )
    ref.append(Daemon(home, server, metrics, readiness, EventLog()))
    await nursery.start(server.run)
    return ref[0]


@dataclass(frozen=True)
class RawAnswer:
    """An HTTP answer read off a raw socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_exchange(port: int, data: bytes, *, read_timeout_s: float = 3.0) -> bytes:
    """Send ``data``, half-close, and read until the server closes (or the timeout)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = bytearray()
    async with stream:
        try:
            await stream.send_all(data)
            await stream.send_eof()
            with trio.move_on_after(read_timeout_s):
                while chunk := await stream.receive_some(65536):
                    received += chunk
        except trio.BrokenResourceError:
            pass  # the server closed first; what it sent is in ``received``
    return bytes(received)


def parse_answer(raw: bytes) -> RawAnswer:
    """The first answer in ``raw`` (status, lower-case headers, body by content-length)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(status, headers, rest[: int(headers.get("content-length", len(rest)))])


async def raw_request(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> RawAnswer:
    """One request with exactly the given token and headers."""
    fields = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
    if token is not None:
        fields["Authorization"] = f"Bearer {token}"
    if body:
        fields["Content-Length"] = str(len(body))
    fields.update(headers or {})
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items())]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    return parse_answer(await raw_exchange(port, data))
