"""The route registry: method + path pattern -> async handler, with typed path parameters.

A pattern is a path whose segments are literals or ``{name}`` / ``{name:kind}``
placeholders; ``kind`` names a converter (``str``, ``int``, or one given to
``Routes``). A literal segment beats a placeholder, so ``/jobs/active`` wins over
``/jobs/{id}``. A handler takes an ``ApiRequest`` and returns a JSON-able value, or
a ``RawResponse`` for non-JSON bodies (Prometheus text). Routes are public (no
token) only when registered with ``public=True``, and answer 503 while the daemon
is not ready unless registered with ``always=True``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from node.api.errors import BadRequest, MethodNotAllowed, NotFound

T = TypeVar("T")
N = TypeVar("N", int, float)

# A uint256 has at most 78 decimal digits; anything longer is not a job id.
_INT_PATTERN = re.compile(r"[0-9]{1,78}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_][A-Za-z0-9_]*))?\}")


def _to_int(text: str) -> int:
    if not _INT_PATTERN.fullmatch(text):
        raise ValueError("must be a non-negative decimal integer")
    return int(text)


CONVERTERS: dict[str, Callable[[str], object]] = {"str": str, "int": _to_int}


@dataclass(frozen=True)
class RawResponse:
    """A non-JSON answer: the bytes and their content type."""

    body: bytes
    content_type: str
    status: int = 200


@dataclass(frozen=True)
class ApiRequest:
    """One request as a handler sees it: typed path parameters, query, parsed JSON body."""

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    def query_int(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """The query parameter ``name`` as an int in [minimum, maximum]; 400 otherwise."""
        return _bounded(name, self._query(name, default, _to_int), minimum, maximum)

    def query_float(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """The query parameter ``name`` as a finite float in [minimum, maximum]; 400 otherwise."""
        value = self._query(name, default, float)
        if value != value or value in (float("inf"), float("-inf")):
            raise BadRequest(f"query parameter {name} must be a finite number")
        return _bounded(name, value, minimum, maximum)

    def json_object(self) -> dict[str, Any]:
        """The body, which must be a JSON object; 400 otherwise."""
        if not isinstance(self.body, dict):
            raise BadRequest("the request body must be a JSON object")
        return self.body

    def field(self, name: str, kind: type[T]) -> T:
        """The body's field ``name``, which must exist and have type ``kind``; 400 otherwise."""
        body = self.json_object()
        if name not in body:
            raise BadRequest(f"the request body needs the field {name!r}")
        value = body[name]
        # bool is an int subclass, but true is not a count.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise BadRequest(f"the field {name!r} must be of type {kind.__name__}")
        return value

    def _query(self, name: str, default: T, convert: Callable[[str], T]) -> T:
        if name not in self.query:
            return default
        try:
            return convert(self.query[name])
        except ValueError as exc:
            raise BadRequest(f"query parameter {name}: {exc}") from None


def _bounded(name: str, value: N, minimum: N | None, maximum: N | None) -> N:
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise BadRequest(f"query parameter {name} must be in [{minimum}, {maximum}]")
    return value


Handler = Callable[[ApiRequest], Awaitable[object]]


@dataclass(frozen=True)
class Route:
    """One registered route."""

    method: str
    pattern: str
    segments: tuple[tuple[str, str | None], ...]  # (literal, None) or (name, converter kind)
    handler: Handler
    public: bool
    always: bool

    @property
    def specificity(self) -> tuple[bool, ...]:
        """Sort key: literal segments first, left to right."""
        return tuple(kind is not None for _, kind in self.segments)


@dataclass(frozen=True)
class Match:
    """A route and the converted parameters of the path that matched it."""

    route: Route
    params: dict[str, object]


class Routes:
    """Method + path pattern -> handler; see the module docstring."""

    def __init__(self, converters: Mapping[str, Callable[[str], object]] | None = None) -> None:
        self._converters = {**CONVERTERS, **(converters or {})}
        self._routes: list[Route] = []

    def get(
        self, pattern: str, handler: Handler, *, public: bool = False, always: bool = False
    ) -> Handler:
        """Register ``GET pattern``."""
        return self.add("GET", pattern, handler, public=public, always=always)

    def post(
        self, pattern: str, handler: Handler, *, public: bool = False, always: bool = False
    ) -> Handler:
        """Register ``POST pattern``."""
        return self.add("POST", pattern, handler, public=public, always=always)

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        public: bool = False,
        always: bool = False,
    ) -> Handler:
        """Register ``method pattern``; returns the handler."""
        segments = self._parse(pattern)
        for route in self._routes:
            if route.method == method and _shape(route.segments) == _shape(segments):
                raise ValueError(f"{method} {pattern} clashes with {route.pattern}")
        self._routes.append(Route(method, pattern, segments, handler, public, always))
        self._routes.sort(key=lambda r: r.specificity)
        return handler

    def match(self, method: str, segments: list[str]) -> Match:
        """The route for ``method`` and the decoded path ``segments``.

        Raises NotFound, MethodNotAllowed, or BadRequest for a parameter its
        converter refuses.
        """
        candidates = [r for r in self._routes if _fits(r, segments)]
        if not candidates:
            raise NotFound("no such endpoint: /" + "/".join(segments))
        for route in candidates:
            if route.method == method:
                return Match(route, self._convert(route, segments))
        allow = sorted({r.method for r in candidates})
        raise MethodNotAllowed(f"use {', '.join(allow)} on this endpoint", allow)

    def _parse(self, pattern: str) -> tuple[tuple[str, str | None], ...]:
        if not pattern.startswith("/"):
            raise ValueError(f"route pattern {pattern!r} must start with /")
        parsed: list[tuple[str, str | None]] = []
        for part in pattern.strip("/").split("/") if pattern != "/" else []:
            placeholder = _PLACEHOLDER.fullmatch(part)
            if placeholder is None:
                if not part or "{" in part or "}" in part:
                    raise ValueError(f"route pattern {pattern!r} has a bad segment {part!r}")
                parsed.append((part, None))
                continue
            name, kind = placeholder.group(1), placeholder.group(2) or "str"
            if kind not in self._converters:
                raise ValueError(f"route pattern {pattern!r}: unknown converter {kind!r}")
            if name in {n for n, k in parsed if k is not None}:
                raise ValueError(f"route pattern {pattern!r} repeats the parameter {name!r}")
            parsed.append((name, kind))
        return tuple(parsed)

    def _convert(self, route: Route, segments: list[str]) -> dict[str, object]:
        params: dict[str, object] = {}
        for (name, kind), text in zip(route.segments, segments, strict=True):
            if kind is None:
                continue
            try:
                params[name] = self._converters[kind](text)
            except ValueError as exc:
                raise BadRequest(f"path parameter {name}: {exc}") from None
        return params


def _shape(segments: tuple[tuple[str, str | None], ...]) -> tuple[str | None, ...]:
    """Literals as themselves, placeholders as None: two routes with one shape clash."""
    return tuple(text if kind is None else None for text, kind in segments)


def _fits(route: Route, segments: list[str]) -> bool:
    if len(route.segments) != len(segments):
        return False
    return all(
        kind is not None or text == got
        for (text, kind), got in zip(route.segments, segments, strict=True)
    )
