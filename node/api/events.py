"""Numbered event logs that API clients follow by long polling (``job watch``).

An ``EventLog`` holds the latest ``max_events`` events, numbered from 1 in the
order they were appended, and wakes every waiter on each append or on close.
Appending never blocks, so the engine can append from any task. A reader keeps
the number of the last event it saw and asks for what came after it;
``long_poll`` is the handler-side helper for ``GET ...?after=N&timeout=S``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import trio

from node.api.routes import ApiRequest

# Long polls wait at most this long; well under common proxy and client idle limits (60 s).
MAX_POLL_TIMEOUT_S = 55.0
DEFAULT_POLL_TIMEOUT_S = 25.0


@dataclass(frozen=True)
class EventPage:
    """What a reader gets: events after its cursor, the next cursor, and whether more can come.

    ``missed`` counts events after the cursor that the log no longer holds.
    """

    events: list[tuple[int, Any]]
    next: int
    closed: bool
    missed: int = 0

    def to_json(self) -> dict[str, Any]:
        """The page as the API sends it."""
        return {
            "events": [{"seq": seq, "event": event} for seq, event in self.events],
            "next": self.next,
            "closed": self.closed,
            "missed": self.missed,
        }


class EventLog:
    """An append-only, bounded, numbered event list with waiters; see the module docstring."""

    def __init__(self, *, max_events: int = 1000) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self._events: deque[tuple[int, Any]] = deque(maxlen=max_events)
        self._last = 0
        self._closed = False
        self._changed = trio.Event()

    @property
    def last(self) -> int:
        """The number of the latest event (0 before the first)."""
        return self._last

    @property
    def closed(self) -> bool:
        """Whether the log takes no more events (the job reached a final state)."""
        return self._closed

    def append(self, event: Any) -> int:
        """Add ``event``, wake the waiters, and return its number."""
        if self._closed:
            raise ValueError("the event log is closed")
        self._last += 1
        self._events.append((self._last, event))
        self._wake()
        return self._last

    def close(self) -> None:
        """Take no more events; waiters return at once from now on."""
        self._closed = True
        self._wake()

    def since(self, after: int) -> EventPage:
        """The events numbered above ``after``, without waiting.

        A cursor beyond the last event comes from an earlier run of the daemon,
        whose numbering restarted; it reads from the beginning.
        """
        if after > self._last:
            after = 0
        first = self._events[0][0] if self._events else self._last + 1
        events = [(seq, event) for seq, event in self._events if seq > after]
        missed = max(0, first - after - 1)
        return EventPage(events, self._last, self._closed, missed)

    async def wait_since(self, after: int, timeout_s: float) -> EventPage:
        """The events numbered above ``after``, waiting up to ``timeout_s`` for one to come."""
        with trio.move_on_after(timeout_s):
            while True:
                page = self.since(after)
                if page.events or page.closed or page.missed:
                    return page
                await self._changed.wait()
        return self.since(after)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


async def long_poll(log: EventLog, request: ApiRequest) -> dict[str, Any]:
    """Answer ``GET ...?after=N&timeout=S`` from ``log`` (see ``EventPage.to_json``)."""
    after = request.query_int("after", 0, minimum=0)
    timeout_s = request.query_float(
        "timeout", DEFAULT_POLL_TIMEOUT_S, minimum=0.0, maximum=MAX_POLL_TIMEOUT_S
    )
    page = await log.wait_since(after, timeout_s)
    return page.to_json()
