"""Gossip admission by on-chain standing, against the fake ledger.

Each test counts the RPC reads admission makes (``CountingChain``): a flood of
throwaway keys must cost a bounded number of them, and an account the node already
knows must keep passing whatever others send.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
import trio
from eth_account import Account

from node.bounds import Bounds
from node.chain.interface import Chain
from node.chain.types import JobRequest, ModelSpec
from node.engine.admission import NEGATIVE_TTL_S, ChainAdmission
from node.p2p.gossip import AdmissionUndecided, NotAdmitted
from protocol.messages import (
    JobAnnouncement,
    Message,
    ModelAnnouncement,
    ProverHeartbeat,
    Verified,
    seal,
)
from tests.node.chain.fake_chain import FakeLedger, fake_miner, register_finalized
from tests.trapdoor import TrapdoorKey

KEYS = {name: bytes([i + 1]) * 32 for i, name in enumerate(("alice", "bob", "carol", "mallory"))}
ADDR = {name: Account.from_key(key).address for name, key in KEYS.items()}
RAW = {name: bytes.fromhex(address[2:]) for name, address in ADDR.items()}
ETH = 10**18
MIN = ETH // 100
PEER = b"\x12\x20" + b"\x01" * 32


class CountingChain:
    """A fake chain that counts reads and can be made to fail."""

    def __init__(self, ledger: FakeLedger) -> None:
        self.inner = ledger.chain(ADDR["alice"])
        self.reads = 0
        self.failing = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in ("stake_of", "get_job", "job_count", "model_count"):
            return attr

        def read(*args: Any) -> Any:
            self.reads += 1
            if self.failing:
                raise ConnectionError("the RPC is away")
            return attr(*args)

        return read


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verified(name: str, message: Message, key: bytes | None = None) -> Verified:
    envelope = seal(key or KEYS[name], 31337, message, timestamp=1, lifetime_s=30, nonce=1)
    return Verified(envelope.sender, message, envelope)


def heartbeat(name: str) -> ProverHeartbeat:
    return ProverHeartbeat(RAW[name], PEER, 1, 1, 0, ())


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def chain(ledger: FakeLedger) -> CountingChain:
    return CountingChain(ledger)


def admission(chain: CountingChain, clock: Clock, **kwargs: Any) -> ChainAdmission:
    return ChainAdmission(cast(Chain, chain), min_stake=MIN, clock=clock, **kwargs)


async def test_heartbeats_and_bids_need_the_minimum_stake(
    ledger: FakeLedger, chain: CountingChain, clock: Clock
) -> None:
    ledger.chain(ADDR["bob"]).deposit_stake(ETH)
    ledger.chain(ADDR["carol"]).deposit_stake(MIN - 1)
    gate = admission(chain, clock)
    await gate.staked_signer(verified("bob", heartbeat("bob")))
    with pytest.raises(NotAdmitted, match=f"{MIN - 1} wei of stake"):
        await gate.staked_signer(verified("carol", heartbeat("carol")))
    with pytest.raises(NotAdmitted, match="0 wei"):
        await gate.staked_signer(verified("mallory", heartbeat("mallory")))
    reads = chain.reads
    await gate.staked_signer(verified("bob", heartbeat("bob")))  # cached
    with pytest.raises(NotAdmitted):
        await gate.staked_signer(verified("mallory", heartbeat("mallory")))  # cached "no"
    assert chain.reads == reads == 3


async def test_a_deposit_event_admits_at_once_and_a_slash_sends_it_back_to_the_chain(
    ledger: FakeLedger, chain: CountingChain, clock: Clock
) -> None:
    gate = admission(chain, clock)
    with pytest.raises(NotAdmitted):
        await gate.staked_signer(verified("carol", heartbeat("carol")))
    ledger.chain(ADDR["carol"]).deposit_stake(ETH)
    for event in chain.inner.events_since(0).events:
        gate._on_deposit(cast(Any, None), event)
    reads = chain.reads
    await gate.staked_signer(verified("carol", heartbeat("carol")))  # no "no" cached any more
    assert chain.reads == reads
    event = next(e for e in chain.inner.events_since(0).events if e.name == "StakeDeposited")
    gate._on_stake_change(cast(Any, None), event)  # as a slash or a withdrawal would
    await gate.staked_signer(verified("carol", heartbeat("carol")))
    assert chain.reads == reads + 1


async def test_a_flood_of_throwaway_keys_costs_a_bounded_number_of_reads(
    ledger: FakeLedger, chain: CountingChain, clock: Clock
) -> None:
    """1,000 unstaked keys heartbeat at once: at most the read burst reaches the RPC, the
    rest are undecided (dropped, nobody penalised), and bob, known, passes throughout."""
    ledger.chain(ADDR["bob"]).deposit_stake(ETH)
    gate = admission(chain, clock, reads_per_s=5.0, read_burst=20.0)
    await gate.staked_signer(verified("bob", heartbeat("bob")))
    refused = undecided = 0
    for i in range(1000):
        key = (10_000 + i).to_bytes(32, "big")
        address = bytes.fromhex(Account.from_key(key).address[2:])
        message = ProverHeartbeat(address, PEER, 1, 1, 0, ())
        try:
            await gate.staked_signer(verified("mallory", message, key))
        except NotAdmitted:
            refused += 1
        except AdmissionUndecided:
            undecided += 1
        if i % 100 == 0:
            await gate.staked_signer(verified("bob", heartbeat("bob")))
    assert (refused, undecided) == (19, 981)  # bob's read took one token of the 20
    assert chain.reads == 20
    clock.now += 2.0  # the budget refills at 5 reads per second
    for i in range(20):
        key = (20_000 + i).to_bytes(32, "big")
        address = bytes.fromhex(Account.from_key(key).address[2:])
        with pytest.raises((NotAdmitted, AdmissionUndecided)):
            await gate.staked_signer(verified("x", ProverHeartbeat(address, PEER, 1, 1,
                                                                   0, ()), key))  # fmt: skip
    assert chain.reads == 30


async def test_the_rpc_away_keeps_known_accounts_and_leaves_unknown_ones_undecided(
    ledger: FakeLedger, chain: CountingChain, clock: Clock
) -> None:
    ledger.chain(ADDR["bob"]).deposit_stake(ETH)
    ledger.chain(ADDR["carol"]).deposit_stake(ETH)
    gate = admission(chain, clock)
    await gate.staked_signer(verified("bob", heartbeat("bob")))
    chain.failing = True
    clock.now += 10_000  # bob's entry is stale: it is read again, fails, and is kept
    await gate.staked_signer(verified("bob", heartbeat("bob")))
    with pytest.raises(AdmissionUndecided, match="could not be read"):
        await gate.staked_signer(verified("carol", heartbeat("carol")))
    chain.failing = False
    await gate.staked_signer(verified("carol", heartbeat("carol")))


async def test_concurrent_messages_of_one_unknown_account_share_one_read(
    ledger: FakeLedger, chain: CountingChain, clock: Clock
) -> None:
    ledger.chain(ADDR["bob"]).deposit_stake(ETH)
    gate = admission(chain, clock)
    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(gate.staked_signer, verified("bob", heartbeat("bob")))
    assert chain.reads == 1


def _job(ledger: FakeLedger) -> tuple[int, int]:
    spec = ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 2, 100, TrapdoorKey(2).key_bytes)
    model_id = register_finalized(ledger.chain(ADDR["alice"]), spec, fake_miner(ledger))
    request = JobRequest(model_id, 7, ETH // 10, 60, 600, ETH // 100)
    job_id, _ = ledger.chain(ADDR["alice"]).create_job(request)
    return model_id, job_id


def announcement(job_id: int, model_id: int, requester: str) -> JobAnnouncement:
    return JobAnnouncement(31337, b"\x00" * 20, job_id, model_id, b"\x02" * 32, 100, ETH // 100,
                           ETH // 10, 2_000_000_000, 60, 600, 7, RAW[requester], PEER,
                           0)  # fmt: skip


async def test_job_announcements_need_the_job_on_chain_signed_by_its_requester(
    ledger: FakeLedger, chain: CountingChain, clock: Clock
) -> None:
    model_id, job_id = _job(ledger)
    gate = admission(chain, clock)
    await gate.job_on_chain(verified("alice", announcement(job_id, model_id, "alice")))
    with pytest.raises(NotAdmitted, match="as its requester"):  # mallory re-announces it
        await gate.job_on_chain(verified("mallory", announcement(job_id, model_id, "mallory")))
    with pytest.raises(NotAdmitted):  # a job that does not exist (yet)
        await gate.job_on_chain(verified("alice", announcement(job_id + 1, model_id, "alice")))
    request = JobRequest(model_id, 8, ETH // 10, 60, 600, ETH // 100)
    later, _ = ledger.chain(ADDR["alice"]).create_job(request)
    with pytest.raises(NotAdmitted):  # "no" is remembered for a few seconds
        await gate.job_on_chain(verified("alice", announcement(later, model_id, "alice")))
    clock.now += NEGATIVE_TTL_S + 1
    await gate.job_on_chain(verified("alice", announcement(later, model_id, "alice")))


async def test_model_announcements_need_a_registered_model(
    ledger: FakeLedger, chain: CountingChain, clock: Clock
) -> None:
    model_id, _ = _job(ledger)
    gate = admission(chain, clock)
    ann = ModelAnnouncement(model_id, "m", b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, (),
                            RAW["alice"])  # fmt: skip
    await gate.registered_model(verified("alice", ann))
    unknown = ModelAnnouncement(model_id + 5, "m", b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, (),
                                RAW["mallory"])  # fmt: skip
    with pytest.raises(NotAdmitted, match="not registered"):
        await gate.registered_model(verified("mallory", unknown))


def test_the_caches_are_bounded_and_report_it(chain: CountingChain, clock: Clock) -> None:
    bounds = Bounds()
    gate = admission(chain, clock, bounds=bounds)
    gate.stakes.size = 3
    for i in range(5):
        gate.stakes.put(bytes([i]) * 20, ETH, 1e9)
    assert len(gate.stakes) == 3
    assert bounds.hits["admission_stakes"] == 2
    assert gate.stakes.get(b"\x00" * 20) is None  # the oldest went first
