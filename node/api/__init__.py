"""The daemon's local HTTP API (loopback, bearer token, JSON) and the CLI's client for it.

The daemon builds a ``Routes`` registry, adds the node routes (``add_node_routes``:
/health, /status, /metrics) and the engine's own, and starts
``ApiServer(routes, home=home, port=port).run`` with ``nursery.start``. The CLI
talks to it with ``ApiClient.for_home(home)`` inside ``daemon_errors()``.
``EventLog`` and ``long_poll`` serve ``job watch``.
"""

from node.api.client import (
    ApiClient,
    ApiError,
    ClientError,
    DaemonNotAnswering,
    DaemonNotRunning,
    daemon_errors,
    exit_code_for,
)
from node.api.errors import (
    ApiConfigError,
    BadRequest,
    Conflict,
    HttpError,
    MethodNotAllowed,
    NotFound,
    NotReady,
    PayloadTooLarge,
    Unauthorized,
)
from node.api.events import EventLog, EventPage, long_poll
from node.api.http import Limits
from node.api.routes import ApiRequest, RawResponse, Routes
from node.api.server import ApiServer, new_token
from node.api.status import Readiness, StatusSource, add_node_routes

__all__ = [
    "ApiClient",
    "ApiConfigError",
    "ApiError",
    "ApiRequest",
    "ApiServer",
    "BadRequest",
    "ClientError",
    "Conflict",
    "DaemonNotAnswering",
    "DaemonNotRunning",
    "EventLog",
    "EventPage",
    "HttpError",
    "Limits",
    "MethodNotAllowed",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "RawResponse",
    "Readiness",
    "Routes",
    "StatusSource",
    "Unauthorized",
    "add_node_routes",
    "daemon_errors",
    "exit_code_for",
    "long_poll",
    "new_token",
]
