"""The daemon's local HTTP API server: loopback only, bearer token, JSON in and out.

``ApiServer.run`` binds 127.0.0.1 (any other address is refused), writes the
token and the port into the home directory (node.api.files), reports the port
through ``task_status`` and serves until cancelled; then it removes both files
before it drops its connections, so a client that is cut off reads "not
running". Every route needs ``Authorization: Bearer <token>`` except those
registered ``public`` (``/health``, ``/metrics``: see node.api.status).
Handler outcomes map to statuses: a value -> 200 JSON; ``HttpError`` -> its
status; ``RemoteProtocolError`` -> 400; anything else -> 500 with the traceback
in the log and a generic message to the client.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import trio

from node.api import files
from node.api.errors import ApiConfigError, BadRequest, HttpError, Unauthorized
from node.api.http import HttpRequest, HttpResponse, Limits, error_response, serve_connection
from node.api.routes import ApiRequest, RawResponse, Routes
from node.api.status import Readiness
from protocol.errors import RemoteProtocolError

if TYPE_CHECKING:
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MAX_QUERY_FIELDS = 32
# Host header values a loopback client sends; anything else is a DNS-rebinding page.
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def new_token() -> str:
    """A fresh API token (256 bits of randomness, URL-safe)."""
    return secrets.token_urlsafe(32)


class ApiServer:
    """Serves ``routes`` on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        routes: Routes,
        token: str | None = None,
        port: int = 0,
        *,
        home: Path | None = None,
        host: str = LOOPBACK,
        limits: Limits | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        if host != LOOPBACK:
            raise ApiConfigError(f"the API listens on {LOOPBACK} only, not on {host!r}")
        if not 0 <= port <= 65535:
            raise ApiConfigError(f"the API port must be in [0, 65535], not {port}")
        self.routes = routes
        self.token = token if token is not None else new_token()
        self.home = home
        self.limits = limits or Limits()
        self.readiness = readiness or Readiness()
        self._host = host
        self._wanted_port = port
        self._connections = 0
        self._published: files.ApiInfo | None = None
        self.port: int | None = None

    @property
    def open_connections(self) -> int:
        """How many client connections are being served now."""
        return self._connections

    async def run(self, *, task_status: TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``task_status.started`` gets the bound port."""
        listeners = await self._bind()
        self.port = listeners[0].socket.getsockname()[1]
        try:
            if self.home is not None:
                self._published = files.ApiInfo(self._host, self.port, os.getpid())
                files.publish(self.home, self._published, self.token)
            logger.info("API listening on http://%s:%d", self._host, self.port)
            task_status.started(self.port)
            await trio.serve_listeners(self._serve, listeners)
        finally:
            self._withdraw()
            for listener in listeners:
                listener.socket.close()

    def _withdraw(self) -> None:
        """Remove api.json and api.token (once): the daemon is going away."""
        if self.home is not None and self._published is not None:
            files.withdraw(self.home, self._published)
            self._published = None

    async def _bind(self) -> list[trio.SocketListener]:
        try:
            return list(await trio.open_tcp_listeners(self._wanted_port, host=self._host))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                where = f"{self._host}:{self._wanted_port}"
                raise ApiConfigError(f"the API port {where} is in use") from exc
            raise

    async def _serve(self, stream: trio.SocketStream) -> None:
        if self._connections >= self.limits.max_connections:
            logger.warning("API connection refused: %d already open", self._connections)
            return  # serve_listeners closes the stream
        self._connections += 1
        try:
            await serve_connection(stream, self.limits, self._respond)
        except trio.Cancelled:
            # Only stopping the whole server cancels a connection. Withdraw the files
            # before this socket closes, so the client that is cut off finds the
            # daemon gone rather than unreachable.
            self._withdraw()
            raise
        finally:
            self._connections -= 1

    async def _respond(self, request: HttpRequest) -> HttpResponse:
        response = await self._answer(request)
        logger.debug("API %s %s -> %d", request.method, request.target, response.status)
        return response

    async def _answer(self, request: HttpRequest) -> HttpResponse:
        try:
            result = await self._dispatch(request)
            if isinstance(result, RawResponse):
                return HttpResponse(result.status, result.body, result.content_type)
            body = json.dumps(result, default=_json_default, allow_nan=False)
            return HttpResponse(200, body.encode())
        except HttpError as exc:
            return error_response(exc.status, exc.code, exc.message, _error_headers(exc))
        except RemoteProtocolError as exc:
            return error_response(400, "invalid", str(exc))
        except Exception:
            logger.exception("API %s %s failed", request.method, request.target)
            return error_response(500, "internal", "internal error; see the daemon's log")

    async def _dispatch(self, request: HttpRequest) -> object:
        path, query = _split_target(request.target)
        _check_host(request.headers.get("host", ""))
        match = self.routes.match(request.method, path)
        if not match.route.public:
            self._check_token(request.headers.get("authorization"))
        if not match.route.always:
            self.readiness.check()
        api_request = ApiRequest(
            method=request.method,
            path="/" + "/".join(path),
            params=match.params,
            query=query,
            body=_parse_body(request.body),
        )
        return await match.route.handler(api_request)

    def _check_token(self, header: str | None) -> None:
        if header is None:
            raise Unauthorized("this endpoint needs the API token (Authorization: Bearer ...)")
        scheme, _, given = header.partition(" ")
        expected = self.token.encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise Unauthorized("the API token is wrong")


def _split_target(target: str) -> tuple[list[str], dict[str, str]]:
    """The decoded path segments and the query of a request target."""
    if not target.startswith("/"):
        raise BadRequest("the request target must be a path")
    path, _, raw_query = target.partition("?")
    try:
        segments = [unquote(s, errors="strict") for s in path.split("/")[1:]]
        pairs = parse_qsl(raw_query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the request target cannot be decoded: {exc}") from None
    if segments == [""]:
        segments = []
    return segments, dict(pairs)


def _check_host(host: str) -> None:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name.lower() not in _LOCAL_HOSTS:
        raise BadRequest(f"the Host header must name this machine's loopback, not {host!r}")


def _parse_body(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the request body is not JSON: {exc}") from None


def _error_headers(exc: HttpError) -> list[tuple[str, str]]:
    if exc.status == 401:
        return [("www-authenticate", "Bearer")]
    allow = getattr(exc, "allow", None)
    return [("allow", ", ".join(allow))] if allow else []


def _json_default(value: object) -> object:
    """JSON for the values handlers return beyond JSON's own: dataclasses, enums, bytes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"a {type(value).__name__} is not JSON")
