"""The routes every daemon serves: ``/health``, ``/status`` and ``/metrics``, and readiness.

``Readiness`` lists what the daemon still waits for before its engine can answer
(chain sync, the p2p host); while the list is not empty, routes registered
without ``always=True`` answer 503 and ``/health`` reports what is pending.
``/health`` and ``/metrics`` need no token (health checkers and Prometheus
scrapers carry none); they are still served on loopback only.
``/status`` needs the token; the engine adds its part through ``status_source``.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from node.api.errors import NotReady
from node.api.routes import ApiRequest, RawResponse, Routes
from node.metrics import CONTENT_TYPE, Metrics

StatusSource = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]


class Readiness:
    """What the daemon still waits for; ready when nothing is pending."""

    def __init__(self, *pending: str) -> None:
        self._pending: list[str] = list(dict.fromkeys(pending))

    @property
    def ready(self) -> bool:
        """Whether nothing is pending."""
        return not self._pending

    @property
    def pending(self) -> list[str]:
        """What is pending, in the order it was added."""
        return list(self._pending)

    def wait_for(self, what: str) -> None:
        """Add ``what`` to the pending list."""
        if what not in self._pending:
            self._pending.append(what)

    def done(self, what: str) -> None:
        """Remove ``what`` from the pending list."""
        if what in self._pending:
            self._pending.remove(what)

    def check(self) -> None:
        """Raise NotReady unless ready."""
        if self._pending:
            raise NotReady("the daemon is starting; waiting for " + ", ".join(self._pending))


def version() -> str:
    """provernet's installed version."""
    try:
        return importlib.metadata.version("provernet")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def add_node_routes(
    routes: Routes,
    *,
    metrics: Metrics,
    readiness: Readiness,
    status_source: StatusSource | None = None,
) -> None:
    """Register ``GET /health``, ``GET /status`` and ``GET /metrics`` on ``routes``."""
    started_monotonic, started_wall = time.monotonic(), time.time()

    async def health(request: ApiRequest) -> dict[str, Any]:
        readiness.check()
        return {"status": "ok"}

    async def status(request: ApiRequest) -> dict[str, Any]:
        node: Mapping[str, Any] = {}
        if status_source is not None:
            answer = status_source()
            node = await answer if inspect.isawaitable(answer) else answer
        return {
            "version": version(),
            "pid": os.getpid(),
            "started_at": started_wall,
            "uptime_s": round(time.monotonic() - started_monotonic, 3),
            "ready": readiness.ready,
            "pending": readiness.pending,
            "node": dict(node),
        }

    async def prometheus(request: ApiRequest) -> RawResponse:
        return RawResponse(metrics.render(), CONTENT_TYPE)

    routes.get("/health", health, public=True, always=True)
    routes.get("/status", status, always=True)
    routes.get("/metrics", prometheus, public=True, always=True)
