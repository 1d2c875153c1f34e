"""The prover role after a crash, and in rescue mode, on the fake chain (test_prover.py's world).

A crash is the store left as a killed node leaves it; the restart is a new engine and
prover role on the same store and ledger, as ``node run`` builds them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

import trio

from node.chain.interface import Chain
from node.chain.types import Bid as ChainBid
from node.engine import Engine, IntentExecutor
from node.engine.prover import DEFAULT_RATE, ProverRole
from node.engine.prover_recovery import INPUT_ASK_S
from node.engine.prover_rescue import RESCUE_AFTER_S
from node.engine.prover_work import prove_input, prover_job
from node.proving import ProverPool
from node.store import Role
from protocol.market import ProverState
from protocol.market.prover import new_prover_job
from protocol.messages import JobAnnouncement, sign_bid
from protocol.messages.signing import recover_bid_signer
from tests.node.engine.test_prover import (
    ADDR,
    ETH,
    GWEI,
    KEYS,
    MARKET,
    PEERS,
    PRICING,
    RAW,
    World,
    _bid,
    circuit_dir,  # noqa: F401 (fixture)
    pool,  # noqa: F401 (fixture)
    submission_mined,
    until,
    world,  # noqa: F401 (fixture)
)

S = ProverState


def restart(world: World, circuit: Path, *, rescue: bool = False) -> None:  # noqa: F811
    """A fresh engine and prover role on the world's store and ledger."""

    async def ensure(model_id: int) -> Path:
        return circuit

    executor = IntentExecutor(world.store, cast(Chain, world.chain), world.chain)
    world.engine = Engine(world.store, executor, tick_s=0.05)
    world.role = ProverRole(
        cast(Chain, world.chain),
        world.network,
        world.role.pool,
        private_key=KEYS["bob"],
        market=MARKET,
        pricing=PRICING,
        ensure_model=ensure,
        clock=lambda: float(world.ledger.time),
        gas_price=lambda: GWEI,
        rescue=rescue,
    )
    world.role.register(world.engine)


async def _won(world: World, *, held: bool = True) -> tuple[JobAnnouncement, int]:  # noqa: F811
    """alice's job, awarded to bob, the input stored if ``held``: the engine stopped at WON."""
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        world.award(await _bid(world, job))
        await world.sync()
        nursery.cancel_scope.cancel()
    record = world.store.find_job(job.job_id, Role.PROVER)
    assert record is not None
    assert record.state == "won"
    if held:
        world.store.put_input(record.key, world.values, world.salt)
    return job, record.key


def _crash_in(world: World, key: int, state: ProverState) -> None:  # noqa: F811
    """Leave job ``key`` in ``state``, as a node killed there leaves it."""
    job = prover_job(world.store.get_job(key))
    world.store.save_job(key, dataclasses.replace(job, state=state))


async def _run_until_paid(world: World, job_id: int) -> None:  # noqa: F811
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await until(lambda: submission_mined(world, job_id))
        await world.sync()
        # ProofAccepted credited the fee; PAID withdraws it
        await until(
            lambda: world.state(job_id) == "paid" and not world.ledger.balances[ADDR["bob"]]
        )
        nursery.cancel_scope.cancel()


async def test_a_job_left_proving_by_a_crash_is_proved_again_and_paid_once(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
) -> None:
    job, key = await _won(world)
    _crash_in(world, key, S.PROVING)
    restart(world, circuit_dir)
    await _run_until_paid(world, job.job_id)
    assert world.chain.submits == 1
    assert world.ledger.jobs[job.job_id].status.name == "FULFILLED"
    assert prover_job(world.store.get_job(key)).attempts == 1  # the interrupted attempt
    assert world.role.rate != DEFAULT_RATE  # proved in this process
    assert world.store.get_input(key) is None


async def test_a_won_job_whose_input_was_lost_asks_the_requester_again(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
) -> None:
    job, _ = await _won(world, held=False)  # acknowledged, then lost in a crash
    restart(world, circuit_dir)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await trio.sleep(0.2)
        assert len(world.network.sent) == 1  # only the bid: the input may still be coming
        world.ledger.advance(INPUT_ASK_S)
        await until(lambda: len(world.network.sent) == 2)
        await trio.sleep(0.2)
        assert len(world.network.sent) == 2  # once per INPUT_ASK_S
        await world.deliver(job.job_id)  # the requester answers its prover's bid
        await until(lambda: submission_mined(world, job.job_id))
        nursery.cancel_scope.cancel()
    (peer, first), (again_peer, again) = world.network.sent
    assert (again_peer, again) == (peer, first)
    assert world.chain.submits == 1


async def test_a_fee_credited_but_not_withdrawn_before_a_crash_is_withdrawn(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
) -> None:
    world.ledger.credit(ADDR["bob"], 12345)  # paid, then killed before withdrawing
    restart(world, circuit_dir)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await until(lambda: not world.ledger.balances[ADDR["bob"]])
        await until(lambda: not world.store.open_intents())
        nursery.cancel_scope.cancel()
    withdrawn = [e.args["amount"] for e in world.ledger.events if e.name == "Withdrawn"]
    assert withdrawn == [12345]


async def test_a_proof_stored_before_a_crash_is_submitted_once_not_made_again(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
    pool: ProverPool,  # noqa: F811
) -> None:
    job, key = await _won(world)
    made = prove_input(pool, circuit_dir, world.values, world.salt)
    world.store.set_proof(key, [*made.words, *made.outputs])
    _crash_in(world, key, S.SUBMITTED)  # stopped before submitProof was journaled
    restart(world, circuit_dir)
    await _run_until_paid(world, job.job_id)
    assert world.chain.submits == 1
    assert world.role.rate == DEFAULT_RATE  # nothing was proved again
    kinds = [(i.kind, i.status.value) for i in world.store.intents_for_job(key)]
    assert kinds == [("submit_proof", "mined"), ("withdraw", "mined")]


async def test_a_submission_mined_before_a_crash_is_not_sent_again(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        world.award(await _bid(world, job))
        await world.sync()
        await world.deliver(job.job_id)
        await until(lambda: submission_mined(world, job.job_id))
        nursery.cancel_scope.cancel()  # killed before ProofAccepted was seen
    restart(world, circuit_dir)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await trio.sleep(0.3)  # ticks see the mined submission and wait for its event
        await world.sync()
        await until(lambda: world.state(job.job_id) == "paid")
        nursery.cancel_scope.cancel()
    assert world.chain.submits == 1


async def test_an_announcement_seen_before_a_crash_is_decided_after_it(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
) -> None:
    job = world.create()
    stale = world.create(window=30)
    for seen in (job, stale):  # stored, then the node died before deciding
        world.store.add_job(Role.PROVER, new_prover_job(seen, RAW["bob"], 3600))
    world.ledger.advance(31)
    restart(world, circuit_dir)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await until(lambda: len(world.network.sent) == 1)
        await until(lambda: world.state(stale.job_id) == "lost")
        await world.announce(job)  # a re-announcement is not bid on twice
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    [(_, bid)] = world.network.sent
    assert bid.job_id == job.job_id
    assert world.state(job.job_id) == "bid"


async def test_rescue_mode_proves_an_overdue_job_with_the_requesters_input(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
) -> None:
    world.ledger.chain(ADDR["carol"]).deposit_stake(ETH)
    restart(world, circuit_dir, rescue=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        await _bid(world, job)
        carols = sign_bid(KEYS["carol"], 31337, job.market, job_id=job.job_id, fee=1000,
                          expiry=job.bid_deadline, peer_id=PEERS["carol"])  # fmt: skip
        world.alice.award_job(
            ChainBid(job.job_id, ADDR["carol"], 1000, job.bid_deadline), carols.signature
        )
        await world.sync()
        await until(lambda: world.state(job.job_id) == "lost")
        world.ledger.advance(job.proof_deadline - world.ledger.time + RESCUE_AFTER_S + 1)
        await until(lambda: len(world.network.sent) == 2)  # the rescue offer
        await world.deliver(job.job_id)
        rescue = world.store.find_job(job.job_id, Role.RESCUER)
        assert rescue is not None
        await until(lambda: submission_mined(world, job.job_id, Role.RESCUER))
        await world.sync()
        await until(lambda: world.store.get_job(rescue.key).state == "paid")
        await until(lambda: not world.ledger.balances[ADDR["bob"]])  # fee + half withdrawn
        nursery.cancel_scope.cancel()
    _, offer = world.network.sent[1]
    assert (offer.job_id, offer.prover, offer.fee) == (job.job_id, RAW["bob"], 1000)
    assert offer.expiry == job.proof_deadline + 3600
    assert recover_bid_signer(31337, job.market, offer) == RAW["bob"]
    assert world.ledger.jobs[job.job_id].status.name == "RESCUED"
    assert world.chain.submits == 1
    withdrawn = [e.args["amount"] for e in world.ledger.events if e.name == "Withdrawn"]
    assert withdrawn == [1000 + job.collateral // 2]
    assert world.ledger.stakes[ADDR["carol"]][0] == ETH - job.collateral
    assert world.state(job.job_id) == "lost"  # the bid's record; the rescue is its own


async def test_without_rescue_mode_an_overdue_job_is_left_alone(
    world: World,  # noqa: F811
) -> None:
    world.ledger.chain(ADDR["carol"]).deposit_stake(ETH)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        job = world.create()
        await _bid(world, job)
        carols = sign_bid(KEYS["carol"], 31337, job.market, job_id=job.job_id, fee=1000,
                          expiry=job.bid_deadline, peer_id=PEERS["carol"])  # fmt: skip
        world.alice.award_job(
            ChainBid(job.job_id, ADDR["carol"], 1000, job.bid_deadline), carols.signature
        )
        await world.sync()
        world.ledger.advance(job.proof_deadline - world.ledger.time + RESCUE_AFTER_S + 1)
        await trio.sleep(0.3)
        nursery.cancel_scope.cancel()
    assert len(world.network.sent) == 1
    assert world.store.find_job(job.job_id, Role.RESCUER) is None
