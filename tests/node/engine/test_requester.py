"""The requester role on the fake chain (tests/node/chain/fake_chain.py), with a fake network.

alice requests; bob, carol and dave are provers who bid with real EIP-712
signatures over the job's terms against the fake's market domain; bob and dave are
staked. The provers' side (accepting, proving) is played on the ledger directly. A
tiny Gemm model is compiled once (no setup: the requester only quantizes and commits).
Time is the ledger's clock, moved by the test; trio's autojump clock drives the ticks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import trio
import trio.testing
from eth_account import Account
from libp2p.peer.id import ID

from node.api.errors import BadRequest, Conflict
from node.chain.interface import Chain
from node.chain.sender import Receipt, TxStatus
from node.chain.types import JobRequest, JobStatus, ModelSpec
from node.cli import main
from node.engine import ChainBatch, Engine, EngineContext, IntentExecutor
from node.engine.known_provers import KnownProvers
from node.engine.requester import RequesterRole, Resubmission
from node.engine.requester.auction import checksum
from node.engine.requester.inputs import load_model
from node.engine.requester.recovery import owed_actions
from node.engine.requester.views import job_json
from node.p2p.config import DirectMessage
from node.store import BidStatus, IntentStatus, ModelRecord, Role, Store
from protocol.market import RequesterState, new_requester_job, requester_step, select_winner
from protocol.market import actions as ma
from protocol.market.requester import MAX_AWARDS, AwardChosen
from protocol.messages import Bid, InputDelivery, JobAnnouncement, ProverHeartbeat, sign_bid
from protocol.r1cs.system import R
from tests.node.chain.fake_chain import FakeLedger, fake_miner, register_finalized
from tests.protocol.zkml.models import gemm
from tests.trapdoor import TrapdoorKey

KEYS = {name: bytes([i + 1]) * 32 for i, name in enumerate(("alice", "bob", "carol", "dave"))}
ADDR = {name: Account.from_key(key).address for name, key in KEYS.items()}
PEERS = {name: b"\x12\x20" + bytes([i + 1]) * 32 for i, name in enumerate(KEYS)}
ETH, GWEI = 10**18, 10**9
MARKET = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
CONTRACTS = {
    "ModelRegistry": "0x" + "11" * 20,
    "ProverStaking": "0x" + "22" * 20,
    "JobMarket": MARKET,
}


@pytest.fixture(scope="module")
def circuit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gemm")
    onnx, _ = gemm()
    (folder / "gemm.onnx").write_bytes(onnx)
    out = folder / "circuit"
    assert main(["circuit", "compile", str(folder / "gemm.onnx"), "--out", str(out)]) == 0
    return out


class FakeNetwork:
    """Records announcements; delivers an input only to a peer bound to the account."""

    def __init__(self) -> None:
        self.peer_id = PEERS["alice"]
        self.announced: list[JobAnnouncement] = []
        self.delivered: list[tuple[bytes, InputDelivery]] = []
        self.bound = {PEERS[name]: bytes.fromhex(ADDR[name][2:]) for name in KEYS}

    async def announce(self, announcement: JobAnnouncement) -> None:
        self.announced.append(announcement)

    async def deliver_input(self, peer_id: bytes, account: bytes, delivery: InputDelivery) -> None:
        if self.bound.get(peer_id) != account:
            raise ConnectionError("not bound")
        self.delivered.append((peer_id, delivery))


class AliceChain:
    """alice's fake chain; notes which intents were open as each transaction was sent."""

    def __init__(self, ledger: FakeLedger, store: Store) -> None:
        self.inner, self.ledger, self.store = ledger.chain(ADDR["alice"]), ledger, store
        self.seen: list[tuple[str, list[str]]] = []
        self.receipts: dict[str, Receipt] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _noted(self, label: str, call: Callable[[], Any]) -> Any:
        open_now = trio.from_thread.run_sync(self.store.open_intents)
        self.seen.append((label, [f"{i.kind}:{i.status.value}" for i in open_now]))
        return call()

    def create_job(self, request: Any) -> Any:
        return self._noted("create", lambda: self.inner.create_job(request))

    def award_job(self, bid: Any, signature: bytes) -> Any:
        return self._noted("award", lambda: self.inner.award_job(bid, signature))

    def cancel_job(self, job_id: int) -> Any:
        return self._noted("cancel", lambda: self.inner.cancel_job(job_id))

    def receipt_of(self, tx_hash: str) -> Receipt | None:
        return self.receipts.get(tx_hash)

    def status_of(self, sender: str, tx_hash: str, nonce: int) -> TxStatus:
        return TxStatus.LANDED if tx_hash in self.ledger.txs else TxStatus.DROPPED


class World:
    def __init__(self, tmp_path: Path, circuit_dir: Path) -> None:
        self.ledger = FakeLedger()
        self.path = tmp_path / "node.db"
        self.circuit_dir = circuit_dir
        self.network = FakeNetwork()
        self.resubmit: Resubmission | None = None
        n_public = load_model(circuit_dir).r1cs.n_public
        spec = ModelSpec(
            b"\x01" * 32,
            b"\x02" * 32,
            b"\x03" * 32,
            n_public,
            100,
            TrapdoorKey(n_public).key_bytes,
        )
        alice = self.ledger.chain(ADDR["alice"])
        self.model_id = register_finalized(alice, spec, fake_miner(self.ledger))
        for name in ("bob", "dave"):
            self.ledger.chain(ADDR[name]).deposit_stake(ETH)
        self.open()

    def open(self) -> None:
        self.store = Store.open(self.path, chain_id=31337, contracts=CONTRACTS)
        self.store.upsert_model(
            ModelRecord(
                self.model_id,
                "gemm",
                b"\x01" * 32,
                b"\x02" * 32,
                b"\x03" * 32,
                100,
                3,
                ADDR["alice"],
                circuit_dir=str(self.circuit_dir),
                ceremony_id=1,
                transcript=(ADDR["dave"], ADDR["alice"]),  # verified, with our contribution
            )
        )
        self.chain = AliceChain(self.ledger, self.store)
        executor = IntentExecutor(self.store, cast(Chain, self.chain), self.chain)
        self.engine = Engine(self.store, executor, tick_s=1.0)
        self.role = RequesterRole(
            cast(Chain, self.chain),
            self.network,
            market=MARKET,
            models_dir=Path("/nonexistent"),
            default_collateral=ETH // 10,
            default_deadline_s=600,
            clock=lambda: float(self.ledger.time),
            bid_window_s=30,
            resubmit=self.resubmit,
        )
        self.role.register(self.engine)

    def bid(
        self, name: str, fee: int, *, expiry: int = 0, signer: str | None = None, peer: str = ""
    ) -> Bid:
        job = self.store.get_job(1).job_id
        assert job is not None
        bid = sign_bid(
            KEYS[signer or name],
            31337,
            bytes.fromhex(MARKET[2:]),
            self.ledger.terms(job),
            job_id=job,
            fee=fee,
            expiry=expiry or self.ledger.time + 3600,
            peer_id=PEERS[peer or name],
        )
        if signer is not None:  # forged: another key signed bob's terms
            bid = Bid(
                bid.job_id,
                bytes.fromhex(ADDR[name][2:]),
                fee,
                bid.expiry,
                bid.signature,
                bid.peer_id,
            )
        return bid

    async def send_bid(self, bid: Bid) -> None:
        await self.engine.inputs.send(DirectMessage("/provernet/bid/1", bid, b"", ID(b"x"), None))

    async def sync(self) -> None:
        batch = ChainBatch(self.chain.events_since(0))
        await self.engine.inputs.send(batch)
        await batch.applied.wait()

    def job(self) -> Any:
        return self.store.get_job(1)

    def prove(self, name: str, outputs: list[int] | None = None) -> None:
        """``name`` accepts the job on-chain and submits a proof (the fake checks none)."""
        chain, job_id = self.ledger.chain(ADDR[name]), self.job().job_id
        chain.accept_job(job_id)
        chain.submit_proof(job_id, [0] * 8, outputs or [1, 2, 3])

    def logged(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in events(self) if e["kind"] == kind]

    def bid_statuses(self) -> list[BidStatus]:
        return [b.status for b in self.store.bids_for_job(self.job().job_id)]


async def until(condition: Callable[[], bool]) -> None:
    """Wait (in virtual time) until ``condition`` holds; worker threads take real time."""
    for _ in range(5000):
        if condition():
            return
        await trio.sleep(0.05)
    raise AssertionError("the condition never held")


async def _submit(world: World, **extra: Any) -> dict[str, Any]:
    body = {"model": "gemm", "input": [0.25, -0.5, 0.75, 0.0], "max_fee": "10gwei", **extra}
    answer: dict[str, Any] = await world.engine.call("job.submit", body)
    await until(lambda: world.job().state == "announced")
    return answer


@pytest.fixture
def world(tmp_path: Path, circuit_dir: Path) -> World:
    return World(tmp_path, circuit_dir)


async def test_the_cheapest_valid_bid_wins_gets_the_input_and_the_result_completes_the_job(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        submitted = await _submit(world)
        assert world.job().state == "announced"
        held = world.store.get_input(1)
        assert held is not None
        [announced] = world.network.announced[:1]
        job_id = announced.job_id
        assert world.ledger.jobs[job_id].input_commitment == announced.input_commitment
        for bid in (
            world.bid("bob", 4 * GWEI),
            world.bid("dave", 5 * GWEI),
            world.bid("carol", 3 * GWEI),  # no stake
            world.bid("dave", 2 * GWEI, expiry=world.ledger.time + 1),
            world.bid("dave", 11 * GWEI),  # above the max fee
            world.bid("bob", 1 * GWEI, signer="carol"),
        ):
            await world.send_bid(bid)
        await until(lambda: len(world.store.bids_for_job(job_id)) == 6)
        await until(
            lambda: all(b.status is not BidStatus.PENDING for b in world.store.bids_for_job(job_id))
        )
        world.ledger.advance_to(announced.bid_deadline)
        await until(lambda: world.job().state == "input delivered")
        [(peer, delivery)] = world.network.delivered
        assert peer == PEERS["bob"]
        assert (delivery.values, delivery.salt) == (held.input_q, held.salt)
        world.ledger.chain(ADDR["bob"]).accept_job(job_id)
        await world.sync()
        await until(lambda: world.job().state == "accepted")
        assert world.job().job.proof_deadline == world.ledger.jobs[job_id].deadline
        outputs = [3 << 10, R - (5 << 10)]
        world.ledger.chain(ADDR["bob"]).submit_proof(job_id, [0] * 8, outputs)
        await world.sync()
        await until(lambda: len(world.store.intents_for_job(1)) == 3)
        await until(lambda: not world.store.open_intents())
        status = await world.engine.call("job.status", {"id": submitted["id"]})
        nursery.cancel_scope.cancel()
    scale = load_model(world.circuit_dir).output_scale
    assert status["state"] == "proven"
    assert world.store.get_input(1) is None  # the private input leaves once the job settles
    assert status["output_q"] == [3 << 10, -(5 << 10)]
    assert status["output"] == [(3 << 10) / 2**scale, -(5 << 10) / 2**scale]
    assert (status["prover"], status["fee"]) == (ADDR["bob"], str(4 * GWEI))
    assert all(status["tx"][k] for k in ("create", "award", "proof"))
    reasons = {(b["prover"], b["fee"]): (b["status"], b["reason"] or "") for b in status["bids"]}
    assert reasons[(ADDR["bob"], str(4 * GWEI))][0] == "won"
    assert reasons[(ADDR["dave"], str(5 * GWEI))][0] == "lost"
    assert "does not cover the collateral" in reasons[(ADDR["carol"], str(3 * GWEI))][1]
    assert "expired" in reasons[(ADDR["dave"], str(2 * GWEI))][1]
    assert "exceeds the max fee" in reasons[(ADDR["dave"], str(11 * GWEI))][1]
    assert "not signed by its prover" in reasons[(ADDR["bob"], str(GWEI))][1]
    assert world.chain.seen == [
        ("create", ["create_job:recorded"]),
        ("award", ["award_job:recorded"]),
    ]
    assert world.ledger.balances.get(ADDR["alice"], 0) == 0  # the change was withdrawn
    world.store.close()
    world.open()  # a restarted node shows the same transactions
    assert world.role._json(world.store, 1)["tx"] == status["tx"]


async def test_a_bid_whose_stake_cannot_be_read_stays_pending_and_is_judged_again(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    """The RPC away when bob's bid arrives: the bid is not marked invalid for good; it is
    judged again once the stake can be read, and it wins."""
    real = world.chain.stake_of
    away = [True]

    def stake_of(prover: str) -> Any:
        if away[0]:
            raise ConnectionError("the RPC is away")
        return real(prover)

    world.chain.stake_of = stake_of  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _submit(world)
        [announced] = world.network.announced[:1]
        await world.send_bid(world.bid("bob", 4 * GWEI))
        await until(lambda: len(world.store.bids_for_job(announced.job_id)) == 1)
        await trio.sleep(1.0)
        assert world.bid_statuses() == [BidStatus.PENDING]
        away[0] = False
        world.ledger.advance(6)  # past the pending bid's retry time
        await until(lambda: world.bid_statuses() == [BidStatus.VALID])
        world.ledger.advance_to(announced.bid_deadline)
        await until(lambda: world.job().state == "input delivered")
        nursery.cancel_scope.cancel()
    assert world.job().job.prover == bytes.fromhex(ADDR["bob"][2:])


async def test_heartbeats_add_warnings_to_a_submission_they_never_block(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    provers = KnownProvers(wall_clock=lambda: 0.0)
    # bob holds the model (100 constraints) at 1000 gwei per 1k: a 100 gwei quote; he is busy.
    bob = bytes.fromhex(ADDR["bob"][2:])
    provers.add(ProverHeartbeat(bob, PEERS["bob"], 0, 1000 * GWEI, 900, (world.model_id,)), 0)
    world.role.advice = provers.advice
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        answer = await _submit(world)  # a max fee of 10 gwei
        nursery.cancel_scope.cancel()
    cheap, busy = answer["warnings"]
    assert cheap.startswith("the max fee 10 gwei is below the cheapest known quote 100 gwei")
    assert busy == "no known prover has free capacity (1 known, all busy)"
    assert world.job().state == "announced"  # submitted all the same
    assert len(world.network.announced) == 1


async def test_no_bids_cancels_the_job_and_withdraws_the_escrow(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _submit(world, deadline="5m")
        job = world.job()
        world.ledger.advance(job.job.bid_deadline - world.ledger.time + 1)
        await until(lambda: len(world.store.intents_for_job(1)) == 3)
        await until(lambda: not world.store.open_intents())
        nursery.cancel_scope.cancel()
    assert world.job().state == "cancelled"
    assert world.ledger.jobs[job.job_id].status is JobStatus.CANCELLED
    assert world.ledger.balances.get(ADDR["alice"], 0) == 0
    kinds = [(i.kind, i.status.value) for i in world.store.intents_for_job(1)]
    assert kinds == [("create_job", "mined"), ("cancel_job", "mined"), ("withdraw", "mined")]
    assert world.chain.seen[-1] == ("cancel", ["cancel_job:recorded"])
    assert world.store.get_input(1) is None


async def test_a_restarted_node_awards_from_the_stored_bids(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _submit(world)
        await world.send_bid(world.bid("dave", 6 * GWEI))
        await until(lambda: world.bid_statuses() == [BidStatus.VALID])
        nursery.cancel_scope.cancel()
    world.store.close()
    world.open()  # a new store connection, engine and role: nothing kept in memory
    deadline = world.job().job.bid_deadline
    world.ledger.advance_to(deadline)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await until(lambda: world.job().state == "input delivered")
        nursery.cancel_scope.cancel()
    assert [peer for peer, _ in world.network.delivered] == [PEERS["dave"]]
    [bid] = world.store.bids_for_job(world.job().job_id)
    assert bid.status is BidStatus.WON
    assert [i.kind for i in world.store.intents_for_job(1)] == ["create_job", "award_job"]
    assert world.store.find_job(world.job().job_id, Role.REQUESTER) is not None


async def test_the_input_goes_only_to_a_peer_bound_to_the_winner(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _submit(world)
        await world.send_bid(world.bid("bob", 4 * GWEI, peer="carol"))  # carol's peer, not bob's
        await until(lambda: world.bid_statuses() == [BidStatus.VALID])
        world.ledger.advance_to(world.job().job.bid_deadline)
        await until(lambda: world.job().state == "awarded")
        await until(lambda: any(e["kind"] == "delivery failed" for e in events(world)))
        nursery.cancel_scope.cancel()
    assert world.network.delivered == []
    assert world.store.get_input(1) is not None  # kept for a retry to a bound peer


def events(world: World, key: int = 1) -> list[dict[str, Any]]:
    return [event for _, event in world.role.jobs.logs[key].since(0).events]


async def test_an_unproven_job_is_resubmitted_at_a_higher_fee_until_the_tries_run_out(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    world.resubmit = Resubmission(fee_factor=1.5, max_tries=1)
    world.store.close()
    world.open()
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _submit(world, deadline="5m")
        world.ledger.advance(world.job().job.bid_deadline - world.ledger.time + 1)
        await until(lambda: len(world.store.list_jobs(Role.REQUESTER)) == 2)
        await until(lambda: world.store.get_job(2).state == "announced")
        first, second = world.job(), world.store.get_job(2)
        assert (first.state, first.job.replaced_by) == ("resubmitted", second.job_id)
        assert second.job.max_fee == 15 * GWEI
        world.ledger.advance(second.job.bid_deadline - world.ledger.time + 1)
        await until(lambda: world.store.get_job(2).state == "cancelled")
        await until(lambda: world.role.jobs.logs[2].closed)
        nursery.cancel_scope.cancel()
    assert len(world.store.list_jobs(Role.REQUESTER)) == 2  # one try, then no more
    assert world.role.jobs.logs[1].closed
    assert job_json(world.store, world.job(), {})["replaced_by"] == 2  # job submit --wait follows
    assert (world.store.get_input(1), world.store.get_input(2)) == (None, None)  # settled
    assert (
        world.ledger.jobs[second.job_id].input_commitment
        != world.ledger.jobs[first.job_id].input_commitment
    )  # a fresh salt for the new job


async def test_a_model_not_held_is_fetched_or_refused_with_where_it_should_be(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    world.store.set_model_dir(world.model_id, None)
    fetched: list[int] = []

    async def ensure_model(model_id: int) -> Path:
        fetched.append(model_id)
        return world.circuit_dir

    body = {"model": str(world.model_id), "input": [0.0] * 4, "max_fee": "1gwei"}
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        with pytest.raises(Conflict, match=r"circuit is not in /nonexistent/1"):
            await world.engine.call("job.submit", body)
        world.role.ensure_model = ensure_model
        answer = await world.engine.call("job.submit", body)
        nursery.cancel_scope.cancel()
    assert (answer["id"], fetched) == (1, [world.model_id])


async def test_a_job_created_just_before_a_crash_is_found_by_its_transaction(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    # The node journaled createJob, signed and sent it, and died before saving the answer.
    job, _ = new_requester_job(
        max_fee=GWEI,
        collateral=0,
        bid_deadline=world.ledger.time + 60,
        accept_window=60,
        proof_window=600,
    )
    key = world.store.add_job(Role.REQUESTER, job, model_id=world.model_id)
    world.store.put_input(key, (1, 2, 3, 4), 5)
    request = JobRequest(world.model_id, 77, 0, 60, 600, GWEI)
    params = {"model_id": world.model_id, "input_commitment": "77"}
    intent = world.store.record_intent("create_job", key, params)
    job_id, result = world.chain.inner.create_job(request)
    world.store.mark_sent(intent, result.record.tx_hash, result.record.nonce)
    world.store.close()
    world.open()
    world.chain.receipts[result.record.tx_hash] = result.receipt
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)  # reconciles the intent: mined
        await world.sync()  # JobCreated names the transaction the journal holds
        await until(lambda: world.job().state == "announced")
        nursery.cancel_scope.cancel()
    assert world.job().job_id == job_id
    assert world.network.announced[0].input_commitment == 77
    assert [i.status for i in world.store.intents_for_job(key)] == [IntentStatus.MINED]


async def test_equal_fees_go_to_the_prover_with_the_better_on_chain_record(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _submit(world)
        bids = [world.bid("bob", 4 * GWEI), world.bid("dave", 4 * GWEI)]
        announced = world.network.announced[0]
        stakes = {b.prover: ETH for b in bids}
        # The prover the hash tie-break would pick has been slashed once before.
        favoured = select_winner(announced, bids, stakes, {}, world.ledger.time)
        assert favoured is not None
        world.ledger.count(checksum(favoured.prover), fulfilled=5, slashed=1)
        for bid in bids:
            await world.send_bid(bid)
        await until(lambda: world.bid_statuses() == [BidStatus.VALID] * 2)
        world.ledger.advance_to(announced.bid_deadline)
        await until(lambda: world.job().state == "input delivered")
        nursery.cancel_scope.cancel()
    [other] = [b for b in bids if b is not favoured]
    assert world.job().job.prover == other.prover
    assert world.ledger.jobs[announced.job_id].prover == checksum(other.prover)


async def test_a_refund_cut_off_by_a_crash_is_withdrawn_after_the_restart(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _submit(world)
        await world.send_bid(world.bid("bob", 4 * GWEI))
        await until(lambda: world.bid_statuses() == [BidStatus.VALID])
        world.ledger.advance_to(world.job().job.bid_deadline)
        await until(lambda: world.job().state == "input delivered")
        nursery.cancel_scope.cancel()
    world.prove("bob")
    async with trio.open_nursery() as nursery:  # killed once ProofAccepted is committed
        ctx = EngineContext(world.store, world.engine.executor, nursery)
        world.engine._apply(ctx, world.chain.events_since(0))  # its deferred work never runs
    assert world.job().state == "proven"
    assert world.ledger.balances[ADDR["alice"]] == 6 * GWEI  # the change, still in JobMarket
    world.store.close()
    world.open()
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await until(lambda: any(i.kind == "withdraw" for i in world.store.intents_for_job(1)))
        await until(lambda: not world.store.open_intents())
        await trio.sleep(5)  # later ticks owe it nothing more
        nursery.cancel_scope.cancel()
    assert world.ledger.balances[ADDR["alice"]] == 0
    kinds = [i.kind for i in world.store.intents_for_job(1)]
    assert kinds == ["create_job", "award_job", "withdraw"]
    assert world.role._json(world.store, 1)["tx"]["proof"]


def test_a_settled_job_is_owed_only_what_was_never_journaled(world: World) -> None:
    job, _ = new_requester_job(max_fee=GWEI, collateral=0, bid_deadline=5, accept_window=1,
                               proof_window=6)  # fmt: skip
    cancelled = dataclasses.replace(job, state=RequesterState.CANCELLED)
    key = world.store.add_job(Role.REQUESTER, cancelled)
    kinds = lambda: [type(a).__name__ for a in owed_actions(world.store, key, cancelled,  # noqa: E731
                                                                resubmitting=True)]  # fmt: skip
    assert kinds() == ["Withdraw", "ProposeResubmit"]
    world.store.record_intent("withdraw", key, {})
    assert kinds() == ["ProposeResubmit"]
    replacement = world.store.add_job(Role.REQUESTER, job)
    world.store.record_intent("create_job", replacement, {"resubmit_of": key})
    assert kinds() == []
    proven = dataclasses.replace(job, state=RequesterState.PROVEN)
    assert owed_actions(world.store, replacement, proven, resubmitting=True) == (ma.Withdraw(),)


async def test_an_award_whose_answer_a_crash_lost_is_completed_from_its_event(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _submit(world)
        await world.send_bid(world.bid("bob", 4 * GWEI))
        await until(lambda: world.bid_statuses() == [BidStatus.VALID])
        nursery.cancel_scope.cancel()
    # The node chose bob, journaled and sent awardJob, and died before hearing back.
    [stored] = world.store.bids_for_job(world.job().job_id)
    awarding, _ = requester_step(world.job().job, AwardChosen(stored.bid), world.ledger.time)
    world.store.save_job(1, awarding)
    intent = world.store.record_intent("award_job", 1, {"job_id": str(stored.bid.job_id)})
    result = world.chain.inner.award(stored.bid)
    world.store.mark_sent(intent, result.record.tx_hash, result.record.nonce)
    world.store.close()
    world.open()
    world.chain.receipts[result.record.tx_hash] = result.receipt
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)  # reconciles the award: mined
        await world.sync()  # JobAwarded moves the job on and names the winner
        await until(lambda: world.job().state == "input delivered")
        nursery.cancel_scope.cancel()
    assert world.bid_statuses() == [BidStatus.WON]
    assert [peer for peer, _ in world.network.delivered] == [PEERS["bob"]]
    assert world.role._json(world.store, 1)["tx"]["award"] == result.record.tx_hash


async def _awarded_to_bob(world: World, *others: tuple[str, int]) -> int:
    """Submit, take bob's 4 gwei bid and ``others``' bids, award at the window's close."""
    await _submit(world)
    for name, fee in (("bob", 4 * GWEI), *others):
        await world.send_bid(world.bid(name, fee))
    await until(lambda: world.bid_statuses() == [BidStatus.VALID] * (1 + len(others)))
    world.ledger.advance_to(world.job().job.bid_deadline)
    await until(lambda: world.job().state == "input delivered")
    job_id: int = world.job().job_id
    return job_id


async def test_a_lapsed_award_goes_to_the_next_standing_bid_and_only_it_gets_the_input(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job_id = await _awarded_to_bob(world, ("dave", 5 * GWEI))
        world.ledger.pass_deadline(job_id)  # bob never accepts
        await until(lambda: world.job().state == "input delivered" and world.job().job.awards == 2)
        world.prove("dave")
        await world.sync()
        await until(lambda: world.job().state == "proven")
        await until(lambda: not world.store.open_intents())
        nursery.cancel_scope.cancel()
    assert [peer for peer, _ in world.network.delivered] == [PEERS["bob"], PEERS["dave"]]
    assert world.job().job.prover == bytes.fromhex(ADDR["dave"][2:])
    assert world.bid_statuses() == [BidStatus.WON, BidStatus.WON]
    awards = [i.attempt for i in world.store.intents_for_job(1) if i.kind == "award_job"]
    assert awards == [0, 1]
    assert world.ledger.stats[ADDR["bob"]].lapsed == 1
    assert "lapsed" in [e["state"] for e in world.logged("state")]


async def test_a_slashed_prover_is_replaced_and_the_requester_gets_back_only_its_escrow(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job_id = await _awarded_to_bob(world, ("dave", 5 * GWEI))
        world.ledger.chain(ADDR["bob"]).accept_job(job_id)
        await world.sync()
        await until(lambda: world.job().state == "accepted")
        world.ledger.pass_deadline(job_id)  # bob accepted and never proves
        await until(lambda: world.job().job.slashes == 1 and world.job().state == "input delivered")
        world.prove("dave")
        await world.sync()
        await until(lambda: world.job().state == "proven")
        await until(lambda: any(i.kind == "withdraw" for i in world.store.intents_for_job(1)))
        await until(lambda: not world.store.open_intents())
        nursery.cancel_scope.cancel()
    withdrawn = [e.args["amount"] for e in world.ledger.events
                 if e.name == "Withdrawn" and e.args["account"] == ADDR["alice"]]  # fmt: skip
    assert withdrawn == [10 * GWEI - 5 * GWEI]  # her escrow less dave's fee: nothing of bob's
    assert world.ledger.burned == world.job().job.collateral
    kinds = [(i.kind, i.attempt) for i in world.store.intents_for_job(1)]
    assert kinds == [("create_job", 0), ("award_job", 0), ("slash", 0), ("award_job", 1),
                     ("withdraw", 0)]  # fmt: skip
    states = [e["state"] for e in world.logged("state")]
    assert states[states.index("slashing") :] == [
        "slashing", "slashed", "awarding", "awarded", "input delivered", "accepted", "proven"
    ]  # fmt: skip


async def test_with_no_standing_bid_a_lapsed_job_is_announced_again_then_cancelled(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job_id = await _awarded_to_bob(world)
        world.ledger.pass_deadline(job_id)
        await until(lambda: world.job().state == "re-opened")
        again = world.network.announced[-1]
        assert (again.job_id, again.round) == (job_id, 1)
        assert again.bid_deadline == world.ledger.time + 30
        world.ledger.advance_to(again.bid_deadline + 1)  # nobody bids in the new round
        await until(lambda: world.job().state == "cancelled")
        await until(lambda: not world.store.open_intents())
        nursery.cancel_scope.cancel()
    assert world.ledger.jobs[job_id].status is JobStatus.CANCELLED
    assert world.ledger.balances.get(ADDR["alice"], 0) == 0  # the whole escrow withdrawn
    assert world.ledger.stats[ADDR["bob"]].lapsed == 1


async def test_after_max_awards_lapse_the_requester_gives_up_and_cancels(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    world.ledger.chain(ADDR["carol"]).deposit_stake(ETH)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job_id = await _awarded_to_bob(world, ("dave", 5 * GWEI), ("carol", 6 * GWEI))
        for awards in range(2, MAX_AWARDS + 1):
            world.ledger.pass_deadline(job_id)
            await until(lambda n=awards: world.job().job.awards == n)  # type: ignore[misc]
            await until(lambda: world.job().state == "input delivered")
        world.ledger.pass_deadline(job_id)
        await until(lambda: world.job().state == "cancelled")
        nursery.cancel_scope.cancel()
    assert [e["reason"] for e in world.logged("giving up")] == [
        f"{MAX_AWARDS} awards ended without a proof"
    ]
    lapsed = {name: world.ledger.stats[ADDR[name]].lapsed for name in ("bob", "dave", "carol")}
    assert lapsed == {"bob": 1, "dave": 1, "carol": 1}


async def test_cancel_works_while_no_prover_holds_the_job(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _awarded_to_bob(world)
        with pytest.raises(Conflict, match="while no prover holds it"):
            await world.engine.call("job.cancel", {"id": 1})
        await _submit_second(world)
        answer = await world.engine.call("job.cancel", {"id": 2})  # before its bid deadline
        await until(lambda: world.store.get_job(2).state == "cancelled")
        nursery.cancel_scope.cancel()
    assert answer["state"] == "cancelling"
    assert world.job().state == "input delivered"


async def _submit_second(world: World) -> None:
    body = {"model": "gemm", "input": [0.0, 0.0, 0.0, 0.0], "max_fee": "10gwei"}
    await world.engine.call("job.submit", body)
    await until(lambda: world.store.get_job(2).state == "announced")


async def test_only_the_awarded_prover_asking_again_gets_the_input_again(
    world: World, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await _awarded_to_bob(world, ("dave", 5 * GWEI))
        for name, fee in (("bob", 4 * GWEI), ("dave", 5 * GWEI)):
            [stored] = [b for b in world.store.bids_for_job(world.job().job_id)
                        if b.bid.prover == bytes.fromhex(ADDR[name][2:])]  # fmt: skip
            await world.send_bid(stored.bid)  # the same signed bid, sent again
            assert fee == stored.bid.fee
        await until(lambda: len(world.network.delivered) == 2)
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert [peer for peer, _ in world.network.delivered] == [PEERS["bob"], PEERS["bob"]]


@pytest.mark.parametrize(
    ("ceremony_id", "transcript", "flags", "refusal"),
    [
        (0, None, {}, "a single-party setup, not a ceremony: its registrant"),
        (0, None, {"trust_setup": True}, "the job market takes no jobs for it"),
        (4, None, {}, "ceremony 4 has not been verified here"),
        (0, None, {"require_own_contribution": True}, "no ceremony this node verified"),
        (4, ("dave",), {"require_own_contribution": True}, "is not among model 1's contributors"),
        (4, ("dave",), {"require_own_contribution": True, "trust_setup": True},
         "is not among model 1's contributors"),
        (4, ("dave",), {"trust_setup": "yes"}, "trust_setup must be true or false"),
    ],
)  # fmt: skip
async def test_a_job_on_a_model_whose_setup_is_not_trusted_is_refused(
    world: World,
    ceremony_id: int,
    transcript: tuple[str, ...] | None,
    flags: dict[str, Any],
    refusal: str,
) -> None:
    """No escrow moves for a model whose key this node has no reason to trust: a
    single-party setup (its registrant could forge any result; no flag accepts it, as the
    job market would not), a ceremony not verified here, or one without this node's
    contribution when that is required."""
    record = world.store.get_model(world.model_id)
    assert record is not None
    who = None if transcript is None else tuple(ADDR[name] for name in transcript)
    world.store.upsert_model(dataclasses.replace(record, ceremony_id=ceremony_id, transcript=who))
    model = world.ledger.models[world.model_id]  # the registry says where the key came from
    world.ledger.models[world.model_id] = dataclasses.replace(model, ceremony_id=ceremony_id)
    balances = dict(world.ledger.balances)
    # By id: a name resolves only to a model that takes jobs (test_model_names.py).
    body = {"model": str(world.model_id), "input": [0.25, -0.5, 0.75, 0.0], "max_fee": "10gwei",
            **flags}  # fmt: skip
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        with pytest.raises((Conflict, BadRequest), match=refusal):
            await world.engine.call("job.submit", body)
        nursery.cancel_scope.cancel()
    assert world.store.list_jobs(Role.REQUESTER) == []
    assert (world.ledger.jobs, world.ledger.balances) == ({}, balances)  # no escrow moved


@pytest.mark.parametrize(
    ("ceremony_id", "transcript", "flags"),
    [
        (4, None, {"trust_setup": True}),
        (4, ("dave", "alice"), {"require_own_contribution": True}),
        (4, ("dave",), {}),
    ],
)
async def test_a_job_on_a_trusted_setup_is_taken(
    world: World, ceremony_id: int, transcript: tuple[str, ...] | None, flags: dict[str, Any]
) -> None:
    """The controls: a ceremony not verified here that the requester chose to trust, a
    ceremony with our contribution, and a verified ceremony of others' when ours is not
    required."""
    record = world.store.get_model(world.model_id)
    assert record is not None
    who = None if transcript is None else tuple(ADDR[name] for name in transcript)
    world.store.upsert_model(dataclasses.replace(record, ceremony_id=ceremony_id, transcript=who))
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        answer = await _submit(world, **flags)
        nursery.cancel_scope.cancel()
    assert answer["id"] == 1
