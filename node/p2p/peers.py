"""Peer bookkeeping: who is connected, which account each peer is bound to, who misbehaves.

``PeerBook`` owns, per peer id: whether it is connected, the Ethereum account a
verified peer record binds it to, a penalty score, and a ban deadline. Scores
recover toward zero over time; a peer whose score falls to the ban threshold is
banned until the deadline and its score reset, so a ban is always temporary.
``TokenBucket`` rate-limits one peer on one topic. Times are parameters (trio's
monotonic clock in the service), so everything here is tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

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
        bucket = self._buckets.get((peer, key))
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full_buckets(now)
            bucket = self._buckets[(peer, key)] = TokenBucket(rate, burst, burst, now)
        return bucket.take(now)

    def _forget_full_buckets(self, now: float) -> None:
        # A bucket that has refilled to its burst holds no state worth keeping.
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * bucket.rate < bucket.burst
        }

    def _recover(self, state: _Peer, now: float) -> None:
        elapsed = max(0.0, now - state.scored_at)
        state.score = min(0.0, state.score + elapsed * self.policy.recovery_per_s)
        state.scored_at = now
