"""When a repeated gossip announcement is due: on a period, soon after a peer joins, on demand.

The model role re-announces held models and the prover role repeats its heartbeat
the same way: each keeps a ``RepeatSchedule`` and asks it on every engine tick.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

# After a peer connects, wait this long for the gossip mesh to form before announcing
# (gossipsub's heartbeat is 1 s; py-libp2p grafts on the first one).
NEW_PEER_DELAY_S = 2.0


class RepeatSchedule:
    """Due every ``every_s``, ``new_peer_delay_s`` after a new peer appears, or when hurried."""

    def __init__(self, every_s: float, new_peer_delay_s: float = NEW_PEER_DELAY_S) -> None:
        self.every_s, self.new_peer_delay_s = every_s, new_peer_delay_s
        self._next = 0.0  # the first tick is due
        self._peers: set[Hashable] = set()

    def hurry(self, now: float) -> None:
        """Make the schedule due at ``now``."""
        self._next = min(self._next, now)

    def due(self, now: float, peers: Iterable[Hashable]) -> bool:
        """Whether to announce at ``now`` (then the next time is a period away)."""
        connected = set(peers)
        if connected - self._peers:
            self._next = min(self._next, now + self.new_peer_delay_s)
        self._peers = connected
        if now < self._next:
            return False
        self._next = now + self.every_s
        return True
