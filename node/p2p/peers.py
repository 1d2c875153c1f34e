"""Peer bookkeeping: who is connected, which account each peer is bound to, who misbehaves.

``PeerBook`` owns, per peer id: whether it is connected, the Ethereum account a
verified peer record binds it to, a penalty score, and a ban deadline. Scores
recover toward zero over time; a peer whose score falls to the ban threshold is
banned until the deadline and its score reset, so a ban is always temporary.
``TokenBucket`` rate-limits one peer (or one signing account: ``allow_account``) on
one topic. Times are parameters (trio's
monotonic clock in the service), so everything here is tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from libp2p.peer.id import ID

# Rate-limit state kept for at most this many (peer, topic) pairs before idle ones go.
MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class ScorePolicy:
    """How penalties turn into bans."""

    ban_threshold: float = -100.0
    recovery_per_s: float = 1.0
    ban_s: float = 300.0


@dataclass
class TokenBucket:
    """At most ``burst`` events at once, refilled at ``rate`` per second."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class _Peer:
    connected: bool = False
    account: bytes | None = None
    score: float = 0.0
    scored_at: float = 0.0
    banned_until: float = 0.0


@dataclass
class PeerBook:
    """Connected peers, their bound accounts, scores and bans."""

    policy: ScorePolicy = field(default_factory=ScorePolicy)
    _peers: dict[ID, _Peer] = field(default_factory=dict)
    _buckets: dict[tuple[ID, Hashable], TokenBucket] = field(default_factory=dict)
    _account_buckets: dict[tuple[bytes, Hashable], TokenBucket] = field(default_factory=dict)
    on_bound: Callable[[str], None] = lambda name: None

    def _get(self, peer: ID) -> _Peer:
        return self._peers.setdefault(peer, _Peer())

    def mark_connected(self, peer: ID, connected: bool) -> None:
        """Record that ``peer`` connected or disconnected."""
        self._get(peer).connected = connected
        if not connected:
            self._buckets = {k: v for k, v in self._buckets.items() if k[0] != peer}

    def connected(self) -> list[ID]:
        """Peers connected now."""
        return [peer for peer, state in self._peers.items() if state.connected]

    def is_connected(self, peer: ID) -> bool:
        """Whether ``peer`` is connected now."""
        state = self._peers.get(peer)
        return state is not None and state.connected

    def bind(self, peer: ID, account: bytes) -> None:
        """Bind ``peer`` to ``account`` (from a verified peer record)."""
        self._get(peer).account = account

    def account_of(self, peer: ID) -> bytes | None:
        """The account ``peer`` is bound to, if any."""
        state = self._peers.get(peer)
        return None if state is None else state.account

    def peers_of(self, account: bytes) -> list[ID]:
        """The peers bound to ``account``."""
        return [peer for peer, state in self._peers.items() if state.account == account]

    def score(self, peer: ID, now: float) -> float:
        """``peer``'s current score (0 is neutral, lower is worse)."""
        state = self._peers.get(peer)
        if state is None:
            return 0.0
        self._recover(state, now)
        return state.score

    def penalise(self, peer: ID, points: float, now: float) -> bool:
        """Lower ``peer``'s score; True if this penalty starts a ban."""
        state = self._get(peer)
        self._recover(state, now)
        state.score -= points
        if state.score > self.policy.ban_threshold or self.is_banned(peer, now):
            return False
        state.banned_until = now + self.policy.ban_s
        state.score = 0.0
        return True

    def is_banned(self, peer: ID, now: float) -> bool:
        """Whether ``peer`` is banned at ``now``."""
        state = self._peers.get(peer)
        return state is not None and now < state.banned_until

    def bans_ending(self, now: float) -> list[ID]:
        """Peers whose ban has run out by ``now`` (each reported once)."""
        ended = [p for p, s in self._peers.items() if 0.0 < s.banned_until <= now]
        for peer in ended:
            self._peers[peer].banned_until = 0.0
        return ended

    def allow(self, peer: ID, key: Hashable, rate: float, burst: float, now: float) -> bool:
        """Spend one of ``peer``'s tokens for ``key``; False when it is over its rate."""
        return _take(self._buckets, (peer, key), rate, burst, now, self._full("peer_buckets"))

    def allow_account(
        self, account: bytes, key: Hashable, rate: float, burst: float, now: float
    ) -> bool:
        """Spend one of ``account``'s tokens for ``key`` (across every peer it signs through)."""
        full = self._full("account_buckets")
        return _take(self._account_buckets, (account, key), rate, burst, now, full)

    def _full(self, name: str) -> Callable[[], None]:
        return lambda: self.on_bound(name)

    def _recover(self, state: _Peer, now: float) -> None:
        elapsed = max(0.0, now - state.scored_at)
        state.score = min(0.0, state.score + elapsed * self.policy.recovery_per_s)
        state.scored_at = now


def _take(
    buckets: dict[Any, TokenBucket],
    key: Any,
    rate: float,
    burst: float,
    now: float,
    on_full: Callable[[], None],
) -> bool:
    bucket = buckets.get(key)
    if bucket is None:
        if len(buckets) >= MAX_BUCKETS:
            _forget_full_buckets(buckets, now)
            if len(buckets) >= MAX_BUCKETS:
                # Every bucket still holds state: the oldest goes. Its owner starts again
                # with a full burst, no more than a fresh peer id or account would get.
                del buckets[next(iter(buckets))]
                on_full()
        bucket = buckets[key] = TokenBucket(rate, burst, burst, now)
    return bucket.take(now)


def _forget_full_buckets(buckets: dict[Any, TokenBucket], now: float) -> None:
    # A bucket that has refilled to its burst holds no state worth keeping.
    for key in [k for k, b in buckets.items() if b.tokens + (now - b.updated) * b.rate >= b.burst]:
        del buckets[key]
