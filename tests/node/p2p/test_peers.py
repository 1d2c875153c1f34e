"""Peer bookkeeping: token buckets, penalties that turn into temporary bans, bindings."""

from __future__ import annotations

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

from node.p2p import PeerBook, ScorePolicy
from node.p2p.peers import MAX_BUCKETS, TokenBucket


def new_peer() -> ID:
    return ID.from_pubkey(create_new_key_pair().public_key)


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, tokens=3.0, updated=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5)  # one token back after half a second at 2/s
    assert not bucket.take(0.5)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_rate_limits_are_per_peer_and_per_key() -> None:
    book, mallory, alice = PeerBook(), new_peer(), new_peer()
    assert [book.allow(mallory, "bids", 1.0, 2.0, 0.0) for _ in range(3)] == [True, True, False]
    assert book.allow(mallory, "jobs", 1.0, 2.0, 0.0)
    assert book.allow(alice, "bids", 1.0, 2.0, 0.0)


def test_idle_buckets_are_forgotten_when_too_many_are_kept() -> None:
    book = PeerBook()
    peers = [new_peer() for _ in range(3)]
    for index in range(MAX_BUCKETS):
        book.allow(peers[index % 3], index, 1.0, 1.0, 0.0)
    book.allow(peers[0], "late", 1.0, 1.0, 10.0)  # every earlier bucket has refilled by now
    assert len(book._buckets) == 1


def test_when_every_bucket_is_busy_the_oldest_goes_and_the_bound_is_reported() -> None:
    hits: list[str] = []
    book = PeerBook(on_bound=hits.append)
    for index in range(MAX_BUCKETS + 5):
        assert book.allow_account(index.to_bytes(20, "big"), "bids", 1.0, 2.0, 0.0)
    assert len(book._account_buckets) == MAX_BUCKETS
    assert hits == ["account_buckets"] * 5
    assert (b"\x00" * 20, "bids") not in book._account_buckets


def test_an_account_is_limited_across_peers_and_topics_apart() -> None:
    book, alice = PeerBook(), b"\xaa" * 20
    assert [book.allow_account(alice, "bids", 1.0, 2.0, 0.0) for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert book.allow_account(alice, "heartbeats", 1.0, 2.0, 0.0)
    assert book.allow_account(alice, "bids", 1.0, 2.0, 1.0)  # refilled


def test_penalties_lead_to_a_temporary_ban_and_scores_recover() -> None:
    policy = ScorePolicy(ban_threshold=-100.0, recovery_per_s=1.0, ban_s=60.0)
    book, mallory = PeerBook(policy), new_peer()
    assert not book.penalise(mallory, 60.0, now=0.0)
    assert book.score(mallory, now=10.0) == -50.0  # 10 s of recovery
    assert book.penalise(mallory, 50.0, now=10.0)
    assert book.is_banned(mallory, now=69.0)
    assert not book.penalise(mallory, 500.0, now=20.0)  # already banned: no new ban
    assert book.bans_ending(now=69.0) == []
    assert book.bans_ending(now=70.0) == [mallory]
    assert not book.is_banned(mallory, now=70.0)
    assert book.bans_ending(now=71.0) == []
    assert book.score(mallory, now=1000.0) == 0.0


def test_bindings_and_connections() -> None:
    book, bob, carol = PeerBook(), new_peer(), new_peer()
    book.mark_connected(bob, True)
    book.mark_connected(carol, True)
    book.bind(bob, b"\xbb" * 20)
    assert book.account_of(bob) == b"\xbb" * 20
    assert book.account_of(carol) is None
    assert book.peers_of(b"\xbb" * 20) == [bob]
    book.mark_connected(carol, False)
    assert book.connected() == [bob]
    assert book.is_connected(bob)
    assert not book.is_connected(carol)
