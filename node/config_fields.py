"""The configuration's field kinds: each parser takes a TOML, environment or flag value.

A parser accepts the typed value TOML gives (int, bool, list) and the text the
environment gives, and raises ValueError saying what the value is not; ``Field``
turns that into a ``ConfigError`` that names the field and the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import is_hex_address, to_checksum_address
from multiaddr import Multiaddr

from node.chain.amounts import AmountError, parse_amount


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the field."""


@dataclass(frozen=True)
class Field:
    """One setting: its dotted name, parser, default and environment variable (if any)."""

    name: str
    parser: Callable[[object], Any]
    default: Any
    env: str | None = None
    # How config.toml spells a value (None: as it is).
    render: Callable[[Any], object] | None = None

    def parse(self, raw: object) -> Any:
        """The value of this field from ``raw``; raises ConfigError naming the field."""
        try:
            return self.parser(raw)
        except ValueError as exc:
            raise ConfigError(f"{self.name}: {raw!r} {exc}") from None


_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_URL = re.compile(r"^(https?|wss?)://[^\s/?#]+[^\s]*$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``90``, ``90s``, ``1.5m``, ``10m``, ``2h``, ``1d``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError("is not a duration; write a number with a unit s, m, h or d (e.g. 90s)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    """``seconds`` as ``parse_duration`` reads it back (``600s``, ``1.5s``)."""
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds!r}s"


def duration(raw: object) -> float:
    """A positive duration in seconds (a number of seconds, or text with a unit)."""
    if isinstance(raw, bool):
        raise ValueError("is not a duration")
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str):
        seconds = parse_duration(raw)
    else:
        raise ValueError("is not a duration")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError("is not a positive duration")
    return seconds


def int_range(low: int, high: int) -> Callable[[object], int]:
    """An integer in [low, high]."""

    def parse(raw: object) -> int:
        if isinstance(raw, bool):
            raise ValueError("is not an integer")
        if isinstance(raw, str):
            try:
                raw = int(raw.strip().replace("_", ""), 10)
            except ValueError:
                raise ValueError("is not an integer") from None
        if not isinstance(raw, int):
            raise ValueError("is not an integer")
        if not low <= raw <= high:
            raise ValueError(f"is not between {low} and {high}")
        return raw

    return parse


def ratio(low: float, high: float) -> Callable[[object], float]:
    """A number in [low, high]."""

    def parse(raw: object) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError("is not a number")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("is not a number") from None
        if not low <= value <= high:  # also refuses NaN
            raise ValueError(f"is not between {low} and {high}")
        return value

    return parse


def amount(maximum: int) -> Callable[[object], int]:
    """Wei: an integer, or text with a unit as ``parse_amount`` reads it (``0.01eth``)."""

    def parse(raw: object) -> int:
        if isinstance(raw, bool):
            raise ValueError("is not an amount")
        if isinstance(raw, str):
            try:
                raw = parse_amount(raw)
            except AmountError:
                raise ValueError("is not an amount; write e.g. 0.01eth, 10gwei or 5wei") from None
        if not isinstance(raw, int) or raw < 0:
            raise ValueError("is not an amount of wei")
        if raw > maximum:
            raise ValueError(f"exceeds the largest amount the contracts hold ({maximum} wei)")
        return raw

    return parse


def boolean(raw: object) -> bool:
    """true/false (TOML), or yes/no, on/off, 1/0 as text."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError("is not true or false")


def choice(*options: str) -> Callable[[object], str]:
    """One of ``options`` (case-insensitive)."""

    def parse(raw: object) -> str:
        if isinstance(raw, str) and raw.strip().lower() in options:
            return raw.strip().lower()
        raise ValueError(f"is not one of {', '.join(options)}")

    return parse


def url(raw: object) -> str:
    """An http(s) or ws(s) URL."""
    if not isinstance(raw, str) or not _URL.match(raw.strip()):
        raise ValueError("is not an http(s) or ws(s) URL")
    return raw.strip()


def address(raw: object) -> str:
    """A 20-byte hex Ethereum address, returned checksummed."""
    if not isinstance(raw, str) or not is_hex_address(raw.strip()):
        raise ValueError("is not an Ethereum address (0x and 40 hex digits)")
    return str(to_checksum_address(raw.strip()))


def path(raw: object) -> Path | None:
    """A file path (``~`` expanded); an empty string means none."""
    if isinstance(raw, Path):
        return raw.expanduser()
    if not isinstance(raw, str):
        raise ValueError("is not a path")
    return Path(raw).expanduser() if raw.strip() else None


def multiaddrs(*, need_peer_id: bool) -> Callable[[object], tuple[str, ...]]:
    """A list of multiaddrs (a TOML array, or comma-separated text); each must parse."""

    def parse(raw: object) -> tuple[str, ...]:
        if isinstance(raw, str):
            items: list[object] = [part.strip() for part in raw.split(",") if part.strip()]
        elif isinstance(raw, list | tuple):
            items = list(raw)
        else:
            raise ValueError("is not a list of multiaddrs")
        return tuple(_multiaddr(item, need_peer_id) for item in items)

    return parse


def _multiaddr(item: object, need_peer_id: bool) -> str:
    if not isinstance(item, str):
        raise ValueError(f"has {item!r}, which is not a multiaddr")
    try:
        parsed = Multiaddr(item)
    except Exception as exc:  # the multiaddr parser raises several unrelated classes
        raise ValueError(f"has {item!r}, which is not a multiaddr ({exc})") from None
    if need_peer_id and "p2p" not in [p.name for p in parsed.protocols()]:
        raise ValueError(f"has {item!r}, which does not end in /p2p/<peer id>")
    return str(parsed)
