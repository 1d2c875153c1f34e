"""Times as people read them: durations ("4m 10s") and local clock times with how far off.

Used by the CLI's human output; ``--json`` keeps unix seconds for scripts.
"""

from __future__ import annotations

import time


def span(seconds: float) -> str:
    """A duration as ``1h 4m``, ``4m 10s``, ``12s`` or ``0.4s`` (two units at most)."""
    if seconds < 10 and not float(seconds).is_integer():
        return f"{seconds:.1f}s"
    rest = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size or (unit == "s" and not parts):
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join(parts[:2])


def moment(timestamp: int | None, now: float | None = None) -> str:
    """A unix time as a local time with its distance from now: ``14:03:22 (in 4m 10s)``;
    the date is added when it is not today."""
    if timestamp is None:
        return "-"
    now = time.time() if now is None else now
    local = time.localtime(timestamp)
    same_day = time.localtime(now)[:3] == local[:3]
    clock = time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", local)
    delta = timestamp - now
    if abs(delta) < 1:
        return f"{clock} (now)"
    return f"{clock} ({'in ' + span(delta) if delta > 0 else span(-delta) + ' ago'})"
