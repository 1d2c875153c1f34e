"""The CLI's side of the local API: a small synchronous JSON client over urllib.

``ApiClient.for_home(home)`` finds the daemon through ``home/api.json`` and
``home/api.token``. A daemon that is not there (no file, a dead pid, a refused
connection) raises ``DaemonNotRunning``; an error answer raises ``ApiError`` with
the server's code and message. ``daemon_errors()`` turns both into the CLI's
``CliError`` with the exit code of their kind, so handlers stay short.
"""

# DaemonNotRunning and DaemonNotAnswering read as the messages they carry, not N818 names.
# ruff: noqa: N818

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from node import exit_codes
from node.api import files
from node.api.events import DEFAULT_POLL_TIMEOUT_S

DEFAULT_TIMEOUT_S = 10.0
# A long poll's socket waits this much longer than the server holds the request.
POLL_MARGIN_S = 10.0
# Server error codes with an exit code of their own; other client errors exit 1.
EXIT_CODES = {
    "bad_request": exit_codes.USAGE,
    "invalid": exit_codes.USAGE,
    "unsupported_model": exit_codes.UNSUPPORTED_MODEL,
    "input_rejected": exit_codes.INPUT_REJECTED,
    "artifact_mismatch": exit_codes.ARTIFACT_MISMATCH,
    "not_ready": exit_codes.UNAVAILABLE,
    "unauthorized": exit_codes.UNAVAILABLE,
}


class ClientError(Exception):
    """Root of every error the API client raises."""


class DaemonNotRunning(ClientError):
    """No daemon answers for this home directory."""

    def __init__(self, home: Path) -> None:
        super().__init__(
            f"the provernet daemon for {home} is not running; "
            f"start it with `provernet --home {home} node run`"
        )
        self.home = home


class DaemonNotAnswering(ClientError):
    """The daemon accepted the connection but did not answer in time."""


class ApiError(ClientError):
    """The daemon answered with an error."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class ApiClient:
    """JSON requests to one daemon's API; see the module docstring."""

    def __init__(
        self,
        port: int,
        token: str,
        *,
        home: Path | None = None,
        host: str = "127.0.0.1",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base = f"http://{host}:{port}"
        self.home = home
        self.timeout_s = timeout_s
        self._token = token
        # No proxy handler: HTTP_PROXY from the environment must not see loopback traffic.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def for_home(cls, home: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> ApiClient:
        """A client for the daemon of ``home``; DaemonNotRunning when there is none."""
        info = files.read_info(home)
        token = files.read_token(home)
        if info is None or token is None or not _alive(info.pid):
            raise DaemonNotRunning(home)
        return cls(info.port, token, home=home, host=info.host, timeout_s=timeout_s)

    def get(
        self,
        path: str,
        query: Mapping[str, object] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> Any:
        """``GET path?query``; the decoded JSON answer."""
        if query:
            path = f"{path}?{urlencode({k: str(v) for k, v in query.items()})}"
        return self._request("GET", path, None, timeout_s)

    def post(self, path: str, json_body: object = None, *, timeout_s: float | None = None) -> Any:
        """``POST path`` with ``json_body``; the decoded JSON answer."""
        return self._request("POST", path, json.dumps(json_body).encode(), timeout_s)

    def get_text(self, path: str) -> str:
        """``GET path`` for a text answer (``/metrics``)."""
        return self._send("GET", path, None, None).decode("utf-8")

    def poll(self, path: str, *, after: int = 0, timeout_s: float = DEFAULT_POLL_TIMEOUT_S) -> Any:
        """One long poll of an event log (node.api.events): events after ``after``."""
        query = {"after": after, "timeout": timeout_s}
        return self.get(path, query, timeout_s=timeout_s + POLL_MARGIN_S)

    def watch(
        self, path: str, *, after: int = 0, timeout_s: float = DEFAULT_POLL_TIMEOUT_S
    ) -> Iterator[Any]:
        """Each event of the log at ``path`` after ``after``, until the log closes."""
        while True:
            page = self.poll(path, after=after, timeout_s=timeout_s)
            for item in page["events"]:
                yield item["event"]
            after = page["next"]
            if page["closed"]:
                return

    def _request(self, method: str, path: str, body: bytes | None, timeout_s: float | None) -> Any:
        return json.loads(self._send(method, path, body, timeout_s))

    def _send(self, method: str, path: str, body: bytes | None, timeout_s: float | None) -> bytes:
        request = urllib.request.Request(self.base + path, data=body, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            with self._opener.open(request, timeout=timeout) as answer:
                data: bytes = answer.read()
                return data
        except urllib.error.HTTPError as exc:
            raise self._api_error(exc) from None
        except urllib.error.URLError as exc:
            raise self._unreachable(exc.reason) from None
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise self._unreachable(exc) from None

    def _api_error(self, exc: urllib.error.HTTPError) -> ApiError:
        try:
            error = json.loads(exc.read())["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError, OSError):
            code, message = "http", f"the daemon answered HTTP {exc.code}"
        if exc.code == 401:
            where = self.home / files.TOKEN_FILE if self.home else "api.token"
            message = (
                f"the daemon refused the API token from {where}; it is stale "
                "(was the daemon restarted, or is another one using this home?)"
            )
        return ApiError(code, message, exc.code)

    def _unreachable(self, reason: object) -> ClientError:
        if isinstance(reason, TimeoutError | socket.timeout):
            return DaemonNotAnswering(f"the daemon at {self.base} did not answer in time")
        if self.home is not None:
            # Refused, or cut off by a daemon that has since withdrawn its api.json.
            stopped = files.read_info(self.home) is None
            if isinstance(reason, ConnectionRefusedError) or stopped:
                return DaemonNotRunning(self.home)
        return DaemonNotAnswering(f"the daemon at {self.base} cannot be reached: {reason}")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False  # kill(0 or -n) would signal a whole process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def exit_code_for(error: ClientError) -> int:
    """The CLI exit code for a client error."""
    if isinstance(error, DaemonNotRunning | DaemonNotAnswering):
        return exit_codes.UNAVAILABLE
    if isinstance(error, ApiError):
        return EXIT_CODES.get(error.code, exit_codes.FAILED)
    return exit_codes.FAILED


@contextmanager
def daemon_errors() -> Iterator[None]:
    """Turn client errors inside the block into ``CliError`` with their exit code."""
    try:
        yield
    except ClientError as exc:
        raise exit_codes.CliError(str(exc), exit_code_for(exc)) from exc
