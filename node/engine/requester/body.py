"""Reading a ``job.submit`` request: its amounts and its deadline; refusals are 400s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.api.errors import BadRequest
from node.chain.amounts import AmountError, parse_amount
from node.config_fields import parse_duration


def amount_of(body: Mapping[str, Any], name: str, default: int | None) -> int:
    """The amount ``body[name]`` in wei (units allowed), or ``default`` when absent."""
    raw = body.get(name)
    if raw is None:
        if default is None:
            raise BadRequest(f'the request needs {name}, e.g. "0.01eth"')
        return default
    try:
        value = parse_amount(str(raw))
    except AmountError as exc:
        raise BadRequest(f"{name}: {exc}") from exc
    if value < 0 or (name == "max_fee" and value == 0):
        raise BadRequest(f"{name} must be more than zero")
    return value


def duration_of(raw: object, default: int) -> int:
    """Seconds of the duration ``raw`` ("90s", "10m"), or ``default`` when absent."""
    if raw is None:
        return default
    try:
        seconds = parse_duration(str(raw))
    except ValueError as exc:
        raise BadRequest(f"deadline {raw!r} {exc}") from exc
    if seconds < 1:
        raise BadRequest("the deadline must be at least one second away")
    return int(seconds)
