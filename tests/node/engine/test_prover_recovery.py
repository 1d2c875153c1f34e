"""The prover role after a crash, on the fake chain (test_prover.py's world).

A crash is the store left as a killed node leaves it; the restart is a new engine and
prover role on the same store and ledger, as ``node run`` builds them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

import trio

from node.chain.interface import Chain
from node.engine import Engine, IntentExecutor
from node.engine.prover import DEFAULT_RATE, ProverRole
from node.engine.prover.acceptance import INPUT_ASK_S
from node.engine.prover.jobs import prover_job
from node.engine.prover.work import prove_input
from node.proving import ProverPool
from node.store import Role
from protocol.market import ProverState
from protocol.market.prover import new_prover_job
from protocol.messages import JobAnnouncement
from tests.node.engine.test_prover import (
    ADDR,
    GWEI,
    KEYS,
    MARKET,
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


def restart(world: World, circuit: Path) -> None:  # noqa: F811
    """A fresh engine and prover role on the world's store and ledger."""

    async def ensure(model_id: int) -> Path:
        return circuit

    executor = IntentExecutor(world.store, cast(Chain, world.chain), world.chain)
    world.engine = Engine(world.store, executor, tick_s=0.05)
    world.role = ProverRole(
        cast(Chain, world.chain),
        world.network,
        world.role.proving.pool,
        private_key=KEYS["bob"],
        market=MARKET,
        pricing=PRICING,
        ensure_model=ensure,
        clock=lambda: float(world.ledger.time),
        gas_price=lambda: GWEI,
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


async def _accepted(world: World) -> tuple[JobAnnouncement, int]:  # noqa: F811
    """alice's job, awarded to bob and accepted on-chain, its input stored: ACCEPTED."""
    job, key = await _won(world)
    world.ledger.chain(ADDR["bob"]).accept_job(job.job_id)
    won = prover_job(world.store.get_job(key))
    deadline = world.ledger.jobs[job.job_id].deadline
    world.store.save_job(key, dataclasses.replace(won, state=S.ACCEPTED, proof_deadline=deadline))
    return job, key


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
    job, key = await _accepted(world)
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
        assert world.network.asked == []  # the input may still be coming
        world.ledger.advance(INPUT_ASK_S)
        await until(lambda: len(world.network.asked) == 1)
        await trio.sleep(0.2)
        assert len(world.network.asked) == 1  # once per INPUT_ASK_S
        await world.deliver(job.job_id)  # the requester answers its prover's bid
        await until(lambda: submission_mined(world, job.job_id))
        nursery.cancel_scope.cancel()
    [(peer, first)] = world.network.sent
    assert world.network.asked == [(peer, first)]  # the winning bid, to the requester only
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
    job, key = await _accepted(world)
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
        world.store.add_job(Role.PROVER, new_prover_job(seen, RAW["bob"]))
    world.ledger.advance(31)
    restart(world, circuit_dir)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        await until(lambda: len(world.network.sent) == 1)
        await until(lambda: world.state(stale.job_id) == "declined")
        await world.announce(job)  # a re-announcement is not bid on twice
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    [(_, bid)] = world.network.sent
    assert bid.job_id == job.job_id
    assert world.state(job.job_id) == "bid"


async def test_an_acceptance_never_journaled_before_a_crash_is_sent_after_it(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
) -> None:
    job, key = await _won(world)
    _crash_in(world, key, S.ACCEPTING)  # the input checked, stopped before acceptJob
    restart(world, circuit_dir)
    await _run_until_paid(world, job.job_id)
    kinds = [i.kind for i in world.store.intents_for_job(key)]
    assert kinds == ["accept_job", "submit_proof", "withdraw"]


async def test_a_checked_input_held_at_a_crash_is_accepted_after_it(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
) -> None:
    job, key = await _won(world)  # the input stored, killed before InputChecked
    restart(world, circuit_dir)
    await _run_until_paid(world, job.job_id)
    assert next(i.kind for i in world.store.intents_for_job(key)) == "accept_job"
    assert world.chain.submits == 1


async def test_an_award_our_free_stake_no_longer_covers_is_let_lapse(
    world: World,  # noqa: F811
    circuit_dir: Path,  # noqa: F811
) -> None:
    job, key = await _won(world, held=False)
    stake = world.ledger.stakes[ADDR["bob"]]
    async with trio.open_nursery() as nursery:
        await nursery.start(world.engine.run)
        # bob's free stake is locked elsewhere between his bid and the input
        world.ledger.stakes[ADDR["bob"]] = (stake[0], stake[0])
        await world.deliver(job.job_id)
        await until(lambda: world.state(job.job_id) == "lapsed")
        nursery.cancel_scope.cancel()
    record = world.store.get_job(key)
    assert record.state == "lapsed"
    assert "stake" in world.role.reasons[key]
