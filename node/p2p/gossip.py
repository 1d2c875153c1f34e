"""Gossip topics and the validator that guards each one.

Gossipsub calls a topic's validator before it delivers or relays a message, so a
message the validator refuses goes nowhere. The validator, in order: refuses
messages from banned peers, caps the size before decoding, rate-limits the
originating peer (token bucket per peer and topic; our own messages are exempt),
decodes with the topic's pluggable ``decode`` and applies its pluggable ``check``.
Each refusal is counted by reason, and the sender may be penalised (``PENALTY``).
An accepted message's decoded form waits, keyed by gossip message id, for the
subscription pump that hands it to the daemon, so nothing is decoded twice.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from protocol.errors import RemoteProtocolError

logger = logging.getLogger(__name__)

# Topic names, versioned so an incompatible change can move to a new topic.
JOBS_TOPIC = "/provernet/jobs/1"
BIDS_TOPIC = "/provernet/bids/1"
MODELS_TOPIC = "/provernet/models/1"
HEARTBEATS_TOPIC = "/provernet/heartbeats/1"
TOPICS = (JOBS_TOPIC, BIDS_TOPIC, MODELS_TOPIC, HEARTBEATS_TOPIC)

# Accepted messages waiting for the pump; gossipsub's subscriber queue holds 32.
MAX_PENDING = 4096


def accept_all(message: object, sender: ID, now: float) -> None:
    """A ``check`` that adds nothing to what ``decode`` enforces."""


class NotAdmitted(RemoteProtocolError):  # noqa: N818 (named for the reason)
    """The signer lacks the on-chain standing the topic requires (no stake, no such job)."""


class AdmissionUndecided(RemoteProtocolError):  # noqa: N818 (named for the reason)
    """Admission could not be decided now (the RPC away, the lookup budget spent)."""


@dataclass(frozen=True)
class TopicRules:
    """What one topic accepts.

    ``decode(data)`` builds the message or raises a RemoteProtocolError;
    ``account_of(message)`` names the account that signed it (None: not rate-limited
    by account); ``admit(message)`` raises NotAdmitted or AdmissionUndecided to refuse
    it; ``check(message, origin_peer, now)`` (unix seconds) raises one to refuse it.
    """

    topic: str
    max_bytes: int
    decode: Callable[[bytes], Any]
    check: Callable[[Any, ID, float], None] = accept_all
    # Per originating peer: a prover heartbeat every few seconds, bursts of bids.
    rate_per_s: float = 5.0
    burst: float = 20.0
    account_of: Callable[[Any], bytes | None] = lambda message: None
    account_rate_per_s: float = 5.0
    account_burst: float = 20.0
    admit: Callable[[Any], Awaitable[None]] | None = None


class Drop(enum.Enum):
    """Why a gossip message was refused."""

    BANNED = "banned"
    OVERSIZED = "oversized"
    RATE_LIMITED = "rate_limited"
    MALFORMED = "malformed"
    NOT_ADMITTED = "not_admitted"
    UNDECIDED = "undecided"
    REJECTED = "rejected"


# Points taken from the forwarding peer. An honest relay validates before relaying,
# so it never forwards malformed or oversized data; it can forward a message that
# expires in flight or reaches us second by another path, hence the small REJECTED.
PENALTY = {
    Drop.BANNED: 0.0,
    Drop.OVERSIZED: 20.0,
    Drop.RATE_LIMITED: 2.0,
    Drop.MALFORMED: 20.0,
    # Honest relays check standing too, but their view of the chain may trail ours.
    Drop.NOT_ADMITTED: 5.0,
    Drop.UNDECIDED: 0.0,  # our RPC or our budget, not the sender's fault
    Drop.REJECTED: 1.0,
}


@dataclass(frozen=True)
class GossipMessage:
    """A validated gossip message: its topic, decoded form, raw bytes and peers."""

    topic: str
    message: Any
    data: bytes
    origin: ID
    forwarder: ID


class GossipGate:
    """The validators of every topic on one node, with shared counters."""

    def __init__(
        self,
        own_id: ID,
        is_banned: Callable[[ID], bool],
        allow: Callable[[ID, str, float, float], bool],
        penalise: Callable[[ID, float], None],
        wall_clock: Callable[[], float],
        judged: Callable[[], None] = lambda: None,
        allow_account: Callable[[bytes, str, float, float], bool] = lambda *args: True,
        on_bound: Callable[[str], None] = lambda name: None,
    ) -> None:
        self._own_id = own_id
        self._is_banned = is_banned
        self._allow = allow
        self._allow_account = allow_account
        self._on_bound = on_bound
        self._penalise = penalise
        self._wall_clock = wall_clock
        self._judged = judged
        self.dropped: Counter[tuple[str, Drop]] = Counter()
        self.accepted: Counter[str] = Counter()
        self._pending: OrderedDict[bytes, GossipMessage] = OrderedDict()

    def validator(self, rules: TopicRules) -> Callable[[ID, rpc_pb2.Message], bool]:
        """The gossipsub validator for ``rules.topic`` (a topic without ``admit``)."""
        assert rules.admit is None, "a topic with admission needs async_validator"

        def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            try:
                screened = self._screen(rules, forwarder, msg)
                reason = (
                    screened if isinstance(screened, Drop) else self._check(rules, screened, msg)
                )
            except Exception:  # a decoder bug must not take gossipsub down with it
                logger.exception("the %s validator failed; the message is dropped", rules.topic)
                reason, forwarder = Drop.MALFORMED, self._own_id  # our bug: nobody penalised
            finally:
                self._judged()
            return self._verdict(rules, forwarder, msg, reason)

        return validate

    def async_validator(
        self, rules: TopicRules
    ) -> Callable[[ID, rpc_pb2.Message], Awaitable[bool]]:
        """The gossipsub validator for ``rules.topic``, awaiting its ``admit``."""
        admit = rules.admit
        assert admit is not None

        async def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            try:
                reason = await self._judge_admitted(rules, admit, forwarder, msg)
            except Exception:  # a decoder or admission bug must not take gossipsub down
                logger.exception("the %s validator failed; the message is dropped", rules.topic)
                reason, forwarder = Drop.MALFORMED, self._own_id
            finally:
                self._judged()
            return self._verdict(rules, forwarder, msg, reason)

        return validate

    async def _judge_admitted(
        self,
        rules: TopicRules,
        admit: Callable[[Any], Awaitable[None]],
        forwarder: ID,
        msg: rpc_pb2.Message,
    ) -> Drop | None:
        screened = self._screen(rules, forwarder, msg)
        if isinstance(screened, Drop):
            return screened
        if forwarder != self._own_id:
            try:
                await admit(screened.message)
            except NotAdmitted as exc:
                logger.debug(
                    "gossip on %s from %s not admitted: %s", rules.topic, screened.origin, exc
                )
                return Drop.NOT_ADMITTED
            except AdmissionUndecided as exc:
                logger.debug("gossip on %s undecided: %s", rules.topic, exc)
                return Drop.UNDECIDED
        return self._check(rules, screened, msg)

    def _verdict(
        self, rules: TopicRules, forwarder: ID, msg: rpc_pb2.Message, reason: Drop | None
    ) -> bool:
        if reason is None:
            return True
        self.dropped[(rules.topic, reason)] += 1
        points = PENALTY[reason]
        # A relay forwarding someone else's burst is not the flooder.
        if reason is Drop.RATE_LIMITED and bytes(msg.from_id) != forwarder.to_bytes():
            points = 0.0
        if forwarder != self._own_id and points:
            self._penalise(forwarder, points)
        return False

    def judged(self, topic: str) -> int:
        """How many messages on ``topic`` were accepted or dropped so far."""
        dropped = sum(n for (t, _), n in self.dropped.items() if t == topic)
        return self.accepted[topic] + dropped

    def take(self, msg: rpc_pb2.Message) -> GossipMessage | None:
        """The decoded form of a delivered message, if this gate accepted it."""
        return self._pending.pop(bytes(msg.from_id) + bytes(msg.seqno), None)

    def _screen(
        self, rules: TopicRules, forwarder: ID, msg: rpc_pb2.Message
    ) -> Drop | GossipMessage:
        """Everything that needs no chain and no history: bans, size, rates, decoding."""
        origin = ID(bytes(msg.from_id))
        data = bytes(msg.data)
        if self._is_banned(forwarder) or self._is_banned(origin):
            return Drop.BANNED
        if len(data) > rules.max_bytes:
            return Drop.OVERSIZED
        local = forwarder == self._own_id
        if not local and not self._allow(origin, rules.topic, rules.rate_per_s, rules.burst):
            return Drop.RATE_LIMITED
        try:
            message = rules.decode(data)
        except RemoteProtocolError as exc:
            logger.debug("gossip on %s from %s is malformed: %r", rules.topic, origin, exc)
            return Drop.MALFORMED
        account = rules.account_of(message)
        if (
            not local
            and account is not None
            and not self._allow_account(
                account, rules.topic, rules.account_rate_per_s, rules.account_burst
            )
        ):
            return Drop.RATE_LIMITED
        return GossipMessage(rules.topic, message, data, origin, forwarder)

    def _check(
        self, rules: TopicRules, screened: GossipMessage, msg: rpc_pb2.Message
    ) -> Drop | None:
        try:
            rules.check(screened.message, screened.origin, self._wall_clock())
        except RemoteProtocolError as exc:
            logger.debug("gossip on %s from %s refused: %r", rules.topic, screened.origin, exc)
            return Drop.REJECTED
        self._remember(screened, msg)
        self.accepted[rules.topic] += 1
        return None

    def _remember(self, message: GossipMessage, msg: rpc_pb2.Message) -> None:
        self._pending[bytes(msg.from_id) + bytes(msg.seqno)] = message
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
            self._on_bound("gossip_pending")
