"""The topic validator on its own: size cap before decoding, rate limits, reasons, penalties."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from node.p2p import AdmissionUndecided, Drop, NotAdmitted, TopicRules
from node.p2p.gossip import GossipGate
from protocol.errors import RemoteProtocolError

TOPIC = "/test/1"


def new_peer() -> ID:
    return ID.from_pubkey(create_new_key_pair().public_key)


ME, MALLORY, ALICE, RELAY = (new_peer() for _ in range(4))


class NotOk(RemoteProtocolError):  # noqa: N818 (named for the reason)
    pass


class Harness:
    """A gate with a fake clock, bucket and penalty log; ``decoded`` records decoder calls."""

    def __init__(self, burst: int = 3) -> None:
        self.now = 0.0
        self.banned: set[ID] = set()
        self.penalties: list[tuple[ID, float]] = []
        self.decoded: list[bytes] = []
        self.tokens: dict[ID, int] = {}
        self.burst = burst
        self.gate = GossipGate(ME, self.banned.__contains__, self.allow, self.penalise, lambda: 1e9)
        rules = TopicRules(TOPIC, 100, decode=self.decode, check=self.check)
        self.validate = self.gate.validator(rules)
        self.seqno = 0

    def allow(self, peer: ID, key: str, rate: float, burst: float) -> bool:
        self.tokens[peer] = self.tokens.get(peer, 0) + 1
        return self.tokens[peer] <= self.burst

    def penalise(self, peer: ID, points: float) -> None:
        self.penalties.append((peer, points))

    def decode(self, data: bytes) -> str:
        self.decoded.append(data)
        if not data.startswith(b"ok"):
            raise NotOk("not ok")
        return data.decode("latin-1")

    def check(self, message: str, origin: ID, now: float) -> None:
        assert now == 1e9
        if message.endswith("stale"):
            raise NotOk("stale")

    def offer(self, data: bytes, origin: ID, forwarder: ID | None = None) -> bool:
        self.seqno += 1
        msg = rpc_pb2.Message(
            data=data, topicIDs=[TOPIC], from_id=origin.to_bytes(), seqno=self.seqno.to_bytes(8)
        )
        accepted = self.validate(forwarder or origin, msg)
        if accepted:
            taken = self.gate.take(msg)
            assert taken is not None
            assert (taken.data, taken.origin) == (data, origin)
        return accepted


def test_each_refusal_is_counted_by_reason_and_penalised() -> None:
    h = Harness()
    assert h.offer(b"ok fine", ALICE)
    assert not h.offer(b"garbage", MALLORY)
    assert not h.offer(b"ok but stale", MALLORY)
    assert not h.offer(b"ok" + b"x" * 200, ALICE)
    assert h.gate.accepted[TOPIC] == 1
    assert h.gate.dropped == {
        (TOPIC, Drop.MALFORMED): 1,
        (TOPIC, Drop.REJECTED): 1,
        (TOPIC, Drop.OVERSIZED): 1,
    }
    assert h.penalties == [(MALLORY, 20.0), (MALLORY, 1.0), (ALICE, 20.0)]


def test_the_size_cap_applies_before_decoding() -> None:
    h = Harness()
    assert not h.offer(b"ok" + b"x" * 99, ALICE)
    assert h.decoded == []


def test_a_flood_from_one_origin_is_cut_while_others_pass() -> None:
    h = Harness(burst=3)
    results = [h.offer(b"ok spam", MALLORY) for _ in range(10)]
    assert results == [True] * 3 + [False] * 7
    assert h.offer(b"ok from alice", ALICE)
    assert h.gate.dropped[(TOPIC, Drop.RATE_LIMITED)] == 7
    assert h.decoded.count(b"ok spam") == 3  # over-limit messages are not even decoded
    assert h.penalties == [(MALLORY, 2.0)] * 7


def test_a_relay_of_someone_elses_flood_is_not_penalised_for_it() -> None:
    h = Harness(burst=1)
    assert h.offer(b"ok", MALLORY, forwarder=RELAY)
    assert not h.offer(b"ok", MALLORY, forwarder=RELAY)
    assert h.penalties == []


def test_our_own_messages_are_not_rate_limited_or_penalised() -> None:
    h = Harness(burst=1)
    assert all(h.offer(b"ok mine", ME) for _ in range(5))
    assert not h.offer(b"bad mine", ME)
    assert h.penalties == []


def test_banned_peers_are_refused_before_anything_else() -> None:
    h = Harness()
    h.banned.add(MALLORY)
    assert not h.offer(b"ok", MALLORY)
    assert not h.offer(b"ok", ALICE, forwarder=MALLORY)
    assert h.decoded == []
    assert h.gate.dropped[(TOPIC, Drop.BANNED)] == 2


def test_a_decoder_bug_drops_the_message_instead_of_raising() -> None:
    h = Harness()

    def broken(data: bytes) -> str:
        raise KeyError("bug")

    validate = h.gate.validator(TopicRules(TOPIC, 100, decode=broken))
    msg = rpc_pb2.Message(data=b"ok", topicIDs=[TOPIC], from_id=ALICE.to_bytes(), seqno=b"1")
    assert not validate(ALICE, msg)
    assert h.penalties == []


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300), from_id=st.binary(max_size=40))
def test_garbage_is_refused_never_raised(data: bytes, from_id: bytes) -> None:
    h = Harness(burst=10**9)
    msg = rpc_pb2.Message(data=data, topicIDs=[TOPIC], from_id=from_id, seqno=b"\x00" * 8)
    valid = data.startswith(b"ok") and not data.endswith(b"stale") and len(data) <= 100
    assert h.validate(MALLORY, msg) == valid


class AdmittingHarness(Harness):
    """A gate whose topic rate-limits by account (the first word) and admits on-chain."""

    def __init__(self, account_burst: int = 100) -> None:
        super().__init__(burst=10**6)
        self.account_tokens: dict[bytes, int] = {}
        self.account_burst = account_burst
        self.checked: list[str] = []
        self.gate = GossipGate(ME, self.banned.__contains__, self.allow, self.penalise,
                               lambda: 1e9, allow_account=self.allow_account)  # fmt: skip
        rules = TopicRules(TOPIC, 100, decode=self.decode, check=self.record_check,
                           account_of=lambda m: m.split()[1].encode(),
                           admit=self.admit)  # fmt: skip
        self.validate_async = self.gate.async_validator(rules)

    def allow_account(self, account: bytes, key: str, rate: float, burst: float) -> bool:
        self.account_tokens[account] = self.account_tokens.get(account, 0) + 1
        return self.account_tokens[account] <= self.account_burst

    def record_check(self, message: str, origin: ID, now: float) -> None:
        self.checked.append(message)

    async def admit(self, message: str) -> None:
        if "unstaked" in message:
            raise NotAdmitted("no stake")
        if "unknown" in message:
            raise AdmissionUndecided("the RPC is away")

    async def offer_async(self, data: bytes, origin: ID, forwarder: ID | None = None) -> bool:
        self.seqno += 1
        msg = rpc_pb2.Message(
            data=data, topicIDs=[TOPIC], from_id=origin.to_bytes(), seqno=self.seqno.to_bytes(8)
        )
        return await self.validate_async(forwarder or origin, msg)


async def test_admission_refuses_before_the_replay_check_and_penalises_only_the_unstaked() -> None:
    h = AdmittingHarness()
    assert await h.offer_async(b"ok alice", ALICE)
    assert not await h.offer_async(b"ok mallory unstaked", MALLORY)
    assert not await h.offer_async(b"ok carol unknown", RELAY)
    assert h.checked == ["ok alice"]  # refused messages never reach the replay cache
    assert h.gate.dropped == {(TOPIC, Drop.NOT_ADMITTED): 1, (TOPIC, Drop.UNDECIDED): 1}
    assert h.penalties == [(MALLORY, 5.0)]


async def test_one_account_is_rate_limited_whatever_peer_ids_it_signs_through() -> None:
    h = AdmittingHarness(account_burst=3)
    origins = [new_peer() for _ in range(6)]
    results = [await h.offer_async(b"ok mallory", origin) for origin in origins]
    assert results == [True] * 3 + [False] * 3
    assert await h.offer_async(b"ok alice", new_peer())
    assert h.gate.dropped == {(TOPIC, Drop.RATE_LIMITED): 3}
    assert await h.offer_async(b"ok mallory", ME)  # our own are never limited


def test_a_topic_with_admission_has_no_sync_validator() -> None:
    h = AdmittingHarness()
    rules = TopicRules(TOPIC, 100, decode=h.decode, admit=h.admit)
    with pytest.raises(AssertionError):
        h.gate.validator(rules)
