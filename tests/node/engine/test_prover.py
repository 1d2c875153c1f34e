"""The prover role on the fake chain with a fake network and a real proof of a tiny model.

alice requests (straight on the fake ledger); bob runs the prover role. The tiny Gemm
model is compiled and set up once; the ledger checks submitted proofs with the real
Groth16 verifier against the model's verifying key. Time is the ledger's clock, moved
by the test; the engine ticks in real time.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import trio
from eth_account import Account
from libp2p.peer.id import ID

from node.chain.interface import Chain
from node.chain.sender import Receipt, TxStatus
from node.chain.types import JobInfo, JobRequest, ModelSpec
from node.cli import main
from node.engine import ChainBatch, Engine, IntentExecutor
from node.engine.prover import Pricing, ProverRole
from node.engine.requester.inputs import load_model
from node.metrics import Metrics
from node.p2p.config import DirectMessage
from node.p2p.gossip import GossipMessage
from node.proving import ProverPool
from node.store import Role, Store
from protocol.groth16 import snarkjs
from protocol.groth16.keys import Proof
from protocol.groth16.verify import verify
from protocol.market.planning import BID_SLACK_S, price, submit_gas_estimate
from protocol.messages import Bid, InputDelivery, JobAnnouncement, ProverHeartbeat, sign_bid
from protocol.messages.signing import recover_bid_signer
from tests.node.chain.fake_chain import FakeLedger, fake_miner, register_finalized
from tests.protocol.zkml.models import gemm
from tests.trapdoor import TrapdoorKey

KEYS = {name: bytes([i + 1]) * 32 for i, name in enumerate(("alice", "bob", "carol"))}
ADDR = {name: Account.from_key(key).address for name, key in KEYS.items()}
RAW = {name: bytes.fromhex(a[2:]) for name, a in ADDR.items()}
PEERS = {name: b"\x12\x20" + bytes([i + 1]) * 32 for i, name in enumerate(KEYS)}
ETH, GWEI = 10**18, 10**9
MARKET = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
CONTRACTS = {
    "ModelRegistry": "0x" + "11" * 20,
    "ProverStaking": "0x" + "22" * 20,
    "JobMarket": MARKET,
}
PRICING = Pricing(price_per_1k=GWEI, margin_bps=1000, capacity=4, max_collateral=ETH)
INPUT = [0.25, -0.5, 0.75, 0.0]


@pytest.fixture(scope="module")
def circuit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gemm")
    onnx, _ = gemm()
    (folder / "gemm.onnx").write_bytes(onnx)
    out = folder / "circuit"
    assert main(["circuit", "compile", str(folder / "gemm.onnx"), "--out", str(out)]) == 0
    assert main(["circuit", "setup", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def pool() -> Any:
    with ProverPool(workers=0) as made:
        yield made


def _checker(circuit_dir: Path) -> Callable[[JobInfo, Any, Any], bool]:
    vk = snarkjs.vk_from_json(json.loads((circuit_dir / "verification_key.json").read_bytes()))

    def check(job: JobInfo, words: Any, outputs: Any) -> bool:
        w = [int(v) for v in words]
        proof = Proof((w[0], w[1]), ((w[3], w[2]), (w[5], w[4])), (w[6], w[7]))
        return verify(vk, [job.input_commitment, *outputs], proof)

    return check


class FakeNetwork:
    """Records the bids and heartbeats the prover sends."""

    def __init__(self) -> None:
        self.peer_id = PEERS["bob"]
        self.sent: list[tuple[bytes, Bid]] = []
        self.asked: list[tuple[bytes, Bid]] = []
        self.heartbeats: list[ProverHeartbeat] = []

    async def send_bid(self, requester_peer: bytes, bid: Bid) -> None:
        self.sent.append((requester_peer, bid))

    async def ask_for_input(self, requester_peer: bytes, bid: Bid) -> None:
        self.asked.append((requester_peer, bid))

    def connected_peers(self) -> list[ID]:
        return []

    async def publish_heartbeat(self, heartbeat: ProverHeartbeat) -> None:
        self.heartbeats.append(heartbeat)


class BobChain:
    """bob's fake chain, with the transaction lookups the intent executor needs."""

    def __init__(self, ledger: FakeLedger) -> None:
        self.inner, self.ledger = ledger.chain(ADDR["bob"]), ledger
        self.submits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def submit_proof(self, job_id: int, proof: Any, outputs: Any) -> Any:
        self.submits += 1
        return self.inner.submit_proof(job_id, proof, outputs)

    def receipt_of(self, tx_hash: str) -> Receipt | None:
        return None

    def status_of(self, sender: str, tx_hash: str, nonce: int) -> TxStatus:
        return TxStatus.LANDED if tx_hash in self.ledger.txs else TxStatus.DROPPED


class World:
    def __init__(self, tmp_path: Path, circuit_dir: Path, pool: ProverPool) -> None:
        self.ledger = FakeLedger(proof_checker=_checker(circuit_dir))
        self.model = load_model(circuit_dir)
        self.constraints = self.model.r1cs.n_constraints
        vk = TrapdoorKey(self.model.r1cs.n_public).key_bytes
        spec = ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, self.model.r1cs.n_public,
                         self.constraints, vk)  # fmt: skip
        self.alice = self.ledger.chain(ADDR["alice"])
        self.model_id = register_finalized(self.alice, spec, fake_miner(self.ledger))
        self.spec = spec
        self.ledger.chain(ADDR["bob"]).deposit_stake(ETH)
        self.store = Store.open(tmp_path / "bob.db", chain_id=31337, contracts=CONTRACTS)
        self.chain = BobChain(self.ledger)
        self.network = FakeNetwork()
        self.metrics = Metrics()
        executor = IntentExecutor(self.store, cast(Chain, self.chain), self.chain)
        self.engine = Engine(self.store, executor, tick_s=0.05)

        async def ensure(model_id: int) -> Path:
            return circuit_dir

        self.role = ProverRole(
            cast(Chain, self.chain),
            self.network,
            pool,
            private_key=KEYS["bob"],
            market=MARKET,
            pricing=PRICING,
            ensure_model=ensure,
            metrics=self.metrics,
            clock=lambda: float(self.ledger.time),
            gas_price=lambda: GWEI,
        )
        self.role.register(self.engine)

    def create(
        self,
        *,
        window: int = 120,
        proof_s: int = 600,
        accept_s: int = 60,
        salt: int = 7,
        model_id: int | None = None,
    ) -> JobAnnouncement:
        """alice creates a job on the ledger; its announcement (bids until now + window)."""
        model_id = self.model_id if model_id is None else model_id
        x_q = self.model.quantize_input(np.asarray(INPUT))
        self.values = tuple(int(v) for v in x_q.tolist())
        self.salt = salt
        commitment = self.model.input_commitment(x_q, salt)
        request = JobRequest(model_id, commitment, ETH // 10, accept_s, proof_s,
                             ETH // 100)  # fmt: skip
        job_id, _ = self.alice.create_job(request)
        return JobAnnouncement(31337, bytes.fromhex(MARKET[2:]), job_id,
                               model_id, b"\x02" * 32, self.constraints, request.max_fee,
                               request.collateral, self.ledger.time + window, accept_s, proof_s,
                               commitment, RAW["alice"], PEERS["alice"], 0)  # fmt: skip

    async def announce(self, job: JobAnnouncement) -> None:
        await self.engine.inputs.send(
            GossipMessage("/provernet/jobs/1", job, b"", ID(b"x"), ID(b"x"))
        )

    async def deliver(self, job_id: int, sender: str = "alice", salt: int | None = None) -> None:
        delivery = InputDelivery(job_id, self.values, self.salt if salt is None else salt)
        message = DirectMessage("/provernet/input/1", delivery, b"", ID(b"x"), RAW[sender])
        await self.engine.inputs.send(message)

    async def sync(self) -> None:
        batch = ChainBatch(self.chain.events_since(0))
        await self.engine.inputs.send(batch)
        await batch.applied.wait()

    def award(self, bid: Bid) -> None:
        self.alice.award(bid)

    def state(self, job_id: int) -> str:
        record = self.store.find_job(job_id, Role.PROVER)
        return "none" if record is None else record.state


async def until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    with trio.fail_after(seconds):
        for _ in range(int(seconds / 0.02)):
            if condition():
                return
            await trio.sleep(0.02)
    raise AssertionError("the condition never held")


def submission_mined(world: World, job_id: int, role: Role = Role.PROVER) -> bool:
    """Whether a submitProof of our record of ``job_id`` in ``role`` is mined."""
    record = world.store.find_job(job_id, role)
    assert record is not None
    intents = world.store.intents_for_job(record.key)
    return any(i.kind == "submit_proof" and i.status.value == "mined" for i in intents)


@pytest.fixture
def world(tmp_path: Path, circuit_dir: Path, pool: ProverPool) -> World:
    return World(tmp_path, circuit_dir, pool)


async def _bid(world: World, job: JobAnnouncement) -> Bid:
    await world.announce(job)
    await until(lambda: len(world.network.sent) == 1)
    [(peer, bid)] = world.network.sent
    assert peer == PEERS["alice"]
    return bid


async def test_an_admitted_job_gets_a_signed_bid_at_the_configured_price(world: World) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        bid = await _bid(world, job)
        nursery.cancel_scope.cancel()
    n_public = world.model.r1cs.n_public
    quote = price(world.constraints, GWEI, submit_gas_estimate(n_public), GWEI, 1000)
    assert (bid.job_id, bid.prover, bid.fee) == (job.job_id, RAW["bob"], quote.fee)
    assert bid.peer_id == PEERS["bob"]
    assert recover_bid_signer(31337, job.market, bid, job.terms) == RAW["bob"]
    assert bid.expiry == job.bid_deadline + BID_SLACK_S
    assert world.state(job.job_id) == "bid"
    assert world.metrics.bids_sent._value.get() == 1


async def test_bids_on_far_off_jobs_do_not_fill_the_capacity(world: World) -> None:
    """A requester announcing jobs whose awards are an hour away cannot lock the prover:
    only won jobs hold slots, so a fifth job still gets a bid and the heartbeat keeps
    offering every slot."""
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        jobs = [world.create(window=3000, salt=i) for i in range(PRICING.capacity + 1)]
        for count, job in enumerate(jobs, start=1):
            await world.announce(job)
            await until(lambda: world.state(job.job_id) not in ("none", "seen"))  # noqa: B023
            assert world.state(job.job_id) == "bid", world.role.reasons
            await until(lambda: len(world.network.sent) == count)  # noqa: B023
        await until(lambda: bool(world.network.heartbeats))
        nursery.cancel_scope.cancel()
    assert [world.state(job.job_id) for job in jobs] == ["bid"] * len(jobs)
    assert world.network.heartbeats[-1].capacity == PRICING.capacity


async def test_a_slow_model_download_holds_up_nothing_else(world: World, circuit_dir: Path) -> None:
    """A model that takes long to arrive leaves its job undecided while the download goes
    on in its own task; a job for a model held meanwhile gets its bid at once."""
    slow_model = register_finalized(world.alice, world.spec, fake_miner(world.ledger))
    arrived = trio.Event()
    fetched: list[int] = []

    async def ensure(model_id: int) -> Path:
        fetched.append(model_id)
        if model_id == slow_model:
            await arrived.wait()
        return circuit_dir

    world.role.fetches._ensure = ensure
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        slow = world.create(model_id=slow_model, salt=1)
        await world.announce(slow)
        await until(lambda: slow_model in world.role.fetches.running)
        quick = world.create(salt=2)
        await world.announce(quick)
        await until(lambda: world.state(quick.job_id) == "bid", seconds=5)
        assert world.state(slow.job_id) == "seen"
        arrived.set()
        await until(lambda: world.state(slow.job_id) == "bid", seconds=30)
        nursery.cancel_scope.cancel()
    assert fetched.count(slow_model) == 1  # one download, however many decisions waited


async def test_the_rpc_away_while_deciding_leaves_the_job_for_later(world: World) -> None:
    real = world.chain.get_job
    calls: list[int] = []

    def unreachable(job_id: int) -> JobInfo:
        calls.append(job_id)
        if len(calls) < 3:
            raise ConnectionError("the RPC is away")
        return real(job_id)

    world.chain.get_job = unreachable  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        await world.announce(job)
        await until(lambda: len(calls) >= 1)
        assert world.state(job.job_id) == "seen"
        for record in world.store.list_jobs(Role.PROVER):  # no need to wait out the retry
            world.role.bidding.retry_at[record.key] = 0
        await until(lambda: len(calls) >= 2)
        for record in world.store.list_jobs(Role.PROVER):
            world.role.bidding.retry_at[record.key] = 0
        await until(lambda: world.state(job.job_id) == "bid")
        nursery.cancel_scope.cancel()
    record = world.store.find_job(job.job_id, Role.PROVER)
    assert record is not None
    assert record.key not in world.role.reasons


async def test_an_infeasible_deadline_is_declined_with_a_reason(world: World) -> None:
    # ~12 s of proving (1.2 safety factor) plus 30 s to submit do not fit a 31 s window
    world.role.proving.rate = max(1, world.constraints // 10)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create(proof_s=31)
        await world.announce(job)
        await until(lambda: world.state(job.job_id) == "declined")
        nursery.cancel_scope.cancel()
    assert world.network.sent == []
    record = world.store.find_job(job.job_id, Role.PROVER)
    assert record is not None
    assert "misses the deadline" in world.role.reasons[record.key]


async def test_a_won_job_is_proved_submitted_once_and_paid(world: World) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        bid = await _bid(world, job)
        world.award(bid)
        await world.sync()
        assert world.state(job.job_id) == "won"
        beats = world.network.heartbeats
        await until(lambda: bool(beats) and beats[-1].capacity == PRICING.capacity - 1)
        await world.deliver(job.job_id)
        await until(lambda: submission_mined(world, job.job_id))
        await world.sync()
        await until(lambda: world.state(job.job_id) == "paid")
        await until(lambda: not world.ledger.balances[ADDR["bob"]])  # PAID withdraws the fee
        await world.deliver(job.job_id)  # a late duplicate is ignored
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    assert world.chain.submits == 1
    record = world.store.find_job(job.job_id, Role.PROVER)
    assert record is not None
    kinds = [(i.kind, i.status.value) for i in world.store.intents_for_job(record.key)]
    assert kinds == [("accept_job", "mined"), ("submit_proof", "mined"), ("withdraw", "mined")]
    assert world.metrics.jobs_accepted._value.get() == 1
    assert world.ledger.jobs[job.job_id].status.name == "FULFILLED"
    assert world.ledger.balances.get(ADDR["bob"], 0) == 0  # the fee was withdrawn
    assert world.store.get_input(record.key) is None
    assert world.metrics.bids_won._value.get() == 1
    assert world.role.rate != 1000  # measured from the proof
    # Heartbeats: on the first tick, then on the award (3 free, no rate measured yet) and
    # when paid (4 free again, the rate measured); the period (15 s) never came.
    beats = [(h.capacity, h.proving_rate > 0) for h in world.network.heartbeats]
    assert beats[-2:] == [(3, False), (4, True)]
    assert beats[:-2] in ([], [(4, False)])  # the first tick came after the award, or before
    assert {
        (h.prover, h.peer_id, h.price_per_1k_constraints) for h in world.network.heartbeats
    } == {(RAW["bob"], PEERS["bob"], PRICING.price_per_1k)}


async def test_an_input_not_matching_the_commitment_is_refused(world: World) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        world.award(await _bid(world, job))
        await world.sync()
        await world.deliver(job.job_id, salt=8)
        record = world.store.find_job(job.job_id, Role.PROVER)
        assert record is not None
        await until(lambda: record.key in world.role.reasons)
        nursery.cancel_scope.cancel()
    assert "commitment" in world.role.reasons[record.key]
    assert world.state(job.job_id) == "won"
    assert world.store.get_input(record.key) is None
    assert world.chain.submits == 0


async def test_an_input_from_someone_but_the_requester_is_ignored(world: World) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        world.award(await _bid(world, job))
        await world.sync()
        await world.deliver(job.job_id, sender="carol")
        await trio.sleep(0.3)
        nursery.cancel_scope.cancel()
    record = world.store.find_job(job.job_id, Role.PROVER)
    assert record is not None
    assert world.state(job.job_id) == "won"
    assert world.store.get_input(record.key) is None
    assert world.chain.submits == 0


async def test_a_job_asking_more_collateral_than_our_free_stake_is_declined(world: World) -> None:
    world.ledger.chain(ADDR["bob"]).request_withdrawal(ETH - ETH // 20)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        await world.announce(job)
        await until(lambda: world.state(job.job_id) == "declined")
        nursery.cancel_scope.cancel()
    record = world.store.find_job(job.job_id, Role.PROVER)
    assert record is not None
    assert "does not cover the collateral" in world.role.reasons[record.key]


def intent_kinds(world: World, job_id: int) -> list[str]:
    record = world.store.find_job(job_id, Role.PROVER)
    assert record is not None
    return [i.kind for i in world.store.intents_for_job(record.key)]


def refused(world: World) -> dict[str, float]:
    return {
        sample.labels["reason"]: sample.value
        for family in world.metrics.inputs_refused.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def test_an_input_aliasing_the_commitment_out_of_range_is_refused_and_the_award_lapses(
    world: World,
) -> None:
    stake = world.ledger.chain(ADDR["bob"]).stake_of(ADDR["bob"])
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        world.award(await _bid(world, job))
        await world.sync()
        bits = world.model.report.input_bits
        honest = world.values
        world.values = (honest[0] + (1 << bits), honest[1] - 1, *honest[2:])  # same packing
        commitment = world.model.input_commitment(np.asarray(honest, dtype=np.int64), world.salt)
        assert commitment == job.input_commitment
        await world.deliver(job.job_id)
        await until(lambda: refused(world).get("unprovable") == 1)
        assert world.state(job.job_id) == "won"
        world.ledger.pass_deadline(job.job_id)
        await until(lambda: world.state(job.job_id) == "lapsed")
        nursery.cancel_scope.cancel()
    assert intent_kinds(world, job.job_id) == []  # never accepted: nothing sent
    assert world.ledger.chain(ADDR["bob"]).stake_of(ADDR["bob"]) == stake


async def test_a_won_job_that_no_longer_fits_the_plan_is_let_lapse(world: World) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create(proof_s=120)
        world.award(await _bid(world, job))
        await world.sync()
        world.role.proving.rate = 1  # the node turned out slow: 120 s cannot hold the proof
        await world.deliver(job.job_id)
        await until(lambda: world.state(job.job_id) == "lapsed")
        nursery.cancel_scope.cancel()
    record = world.store.find_job(job.job_id, Role.PROVER)
    assert record is not None
    assert world.role.reasons[record.key].startswith("plan: proving takes")
    assert intent_kinds(world, job.job_id) == []
    assert world.store.get_input(record.key) is None  # a lapsed job forgets the input


async def test_a_standing_bid_is_awarded_after_the_winner_lapses_and_proved(
    world: World,
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        bid = await _bid(world, job)
        carol = sign_bid(KEYS["carol"], 31337, job.market, job.terms, job_id=job.job_id,
                         fee=bid.fee - 1, expiry=bid.expiry, peer_id=PEERS["carol"])  # fmt: skip
        world.ledger.chain(ADDR["carol"]).deposit_stake(ETH)
        world.alice.award(carol)
        await world.sync()
        await until(lambda: world.state(job.job_id) == "lost")
        world.ledger.pass_deadline(job.job_id)  # carol never accepts
        world.award(bid)
        await world.sync()
        await until(lambda: world.state(job.job_id) == "won")
        await world.deliver(job.job_id)
        await until(lambda: submission_mined(world, job.job_id))
        await world.sync()
        await until(lambda: world.state(job.job_id) == "paid")
        nursery.cancel_scope.cancel()
    assert intent_kinds(world, job.job_id)[:2] == ["accept_job", "submit_proof"]
    assert world.ledger.stats[ADDR["carol"]].lapsed == 1


async def test_a_job_reopened_after_a_slash_is_bid_on_afresh(world: World) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        bid = await _bid(world, job)
        carol = sign_bid(KEYS["carol"], 31337, job.market, job.terms, job_id=job.job_id,
                         fee=bid.fee - 1, expiry=bid.expiry, peer_id=PEERS["carol"])  # fmt: skip
        world.ledger.chain(ADDR["carol"]).deposit_stake(ETH)
        world.alice.award(carol)
        world.ledger.chain(ADDR["carol"]).accept_job(job.job_id)
        world.ledger.pass_deadline(job.job_id)
        world.ledger.chain(ADDR["alice"]).slash(job.job_id)  # burns carol's collateral, re-opens
        await world.sync()
        assert world.state(job.job_id) == "lost"
        again = dataclasses.replace(job, bid_deadline=world.ledger.time + 60, round=1)
        await world.announce(again)
        await until(lambda: len(world.network.sent) == 2)
        nursery.cancel_scope.cancel()
    (_, first), (_, second) = world.network.sent
    assert second.expiry == again.bid_deadline + BID_SLACK_S != first.expiry
    assert world.state(job.job_id) == "bid"
    assert world.ledger.burned == job.collateral
