"""A job from creation to payout with a real proof, plus lapse, slash, re-award and cancel."""

from __future__ import annotations

import pytest

from tests.contracts.chain import assert_reverts, events, now, send, set_time
from tests.contracts.deployment import (
    ACCEPT_WINDOW,
    ACCEPTED,
    AWARDED,
    BURN_ADDRESS,
    CANCELLED,
    COLLATERAL,
    FEE,
    FULFILLED,
    MAX_FEE,
    OPEN,
    PROOF_WINDOW,
    STAKE,
    Deployment,
)

pytestmark = pytest.mark.slow

ZERO = "0x" + "00" * 20


def test_full_lifecycle_pays_the_prover_and_refunds_the_requester(chain: Deployment) -> None:
    m, w3 = chain.market, chain.w3
    statement = chain.circuits[3].statements[0]
    job_id = chain.create_job(3, 0)
    assert chain.job(job_id)["status"] == OPEN
    assert w3.eth.get_balance(m.address) == MAX_FEE

    chain.award(job_id, chain.bob)
    assert chain.job(job_id)["status"] == AWARDED
    chain.accept(job_id, chain.bob)
    assert chain.job(job_id)["status"] == ACCEPTED
    assert chain.stake_of(chain.bob) == (STAKE, COLLATERAL)

    receipt = chain.submit(job_id, statement, chain.bob)
    (event,) = events(m, "ProofAccepted", receipt)
    assert event == {"jobId": job_id, "prover": chain.bob.address, "outputs": statement.outputs}
    job = chain.job(job_id)
    assert (job["status"], job["deadline"], job["prover"]) == (FULFILLED, 0, chain.bob.address)
    assert chain.balance(chain.bob) == FEE
    assert chain.balance(chain.alice) == MAX_FEE - FEE
    assert chain.stats(chain.bob) == (1, 0, 0, FEE)
    assert chain.stake_of(chain.bob) == (STAKE, 0)

    before = w3.eth.get_balance(chain.bob.address)
    receipt = send(w3, m.functions.withdraw(), chain.bob.address)
    assert events(m, "Withdrawn", receipt) == [{"account": chain.bob.address, "amount": FEE}]
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(chain.bob.address) == before + FEE - gas_cost
    send(w3, m.functions.withdraw(), chain.alice.address)
    assert w3.eth.get_balance(m.address) == 0
    assert_reverts(
        m, "NothingToWithdraw", lambda: m.functions.withdraw().transact({"from": chain.bob.address})
    )


def test_create_job_records_the_terms_and_emits(chain: Deployment) -> None:
    statement = chain.circuits[3].statements[1]
    call = chain.market.functions.createJob(chain.models[3], statement.commitment, 5, 7, 11)
    receipt = send(chain.w3, call, chain.alice.address, 13)
    (event,) = events(chain.market, "JobCreated", receipt)
    assert event == {
        "jobId": 1,
        "requester": chain.alice.address,
        "modelId": chain.models[3],
        "inputCommitment": statement.commitment,
        "maxFee": 13,
        "collateral": 5,
        "acceptWindow": 7,
        "proofWindow": 11,
    }
    key = chain.registry.functions.getModel(chain.models[3]).call()[4]
    assert chain.job(1) == {
        "requester": chain.alice.address,
        "status": OPEN,
        "deadline": 0,
        "acceptWindow": 7,
        "prover": ZERO,
        "fee": 0,
        "verifyingKey": key,
        "maxFee": 13,
        "collateral": 5,
        "modelId": chain.models[3],
        "proofWindow": 11,
        "inputCommitment": statement.commitment,
    }
    assert chain.market.functions.jobCount().call() == 1


def test_award_locks_nothing_and_starts_the_accept_window(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    receipt = chain.award(job_id, chain.bob)
    t = now(chain.w3)
    (event,) = events(chain.market, "JobAwarded", receipt)
    assert event == {
        "jobId": job_id,
        "prover": chain.bob.address,
        "fee": FEE,
        "acceptDeadline": t + ACCEPT_WINDOW,
    }
    job = chain.job(job_id)
    assert (job["prover"], job["fee"], job["deadline"]) == (
        chain.bob.address,
        FEE,
        t + ACCEPT_WINDOW,
    )
    assert chain.stake_of(chain.bob) == (STAKE, 0)
    assert chain.w3.eth.get_balance(chain.staking.address) == 2 * STAKE


def test_accept_locks_the_collateral_and_starts_the_proof_window(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    receipt = chain.accept(job_id, chain.bob)
    t = now(chain.w3)
    (event,) = events(chain.market, "JobAccepted", receipt)
    assert event == {
        "jobId": job_id,
        "prover": chain.bob.address,
        "proofDeadline": t + PROOF_WINDOW,
    }
    assert chain.deadline(job_id) == t + PROOF_WINDOW
    assert events(chain.staking, "CollateralLocked", receipt) == [
        {"prover": chain.bob.address, "amount": COLLATERAL}
    ]
    assert chain.staking.functions.freeStakeOf(chain.bob.address).call() == STAKE - COLLATERAL


def test_submit_releases_exactly_the_collateral(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.accepted(job_id, chain.bob)
    receipt = chain.submit(job_id, chain.circuits[3].statements[0], chain.bob)
    assert events(chain.staking, "CollateralReleased", receipt) == [
        {"prover": chain.bob.address, "amount": COLLATERAL}
    ]


def test_slash_burns_the_collateral_and_reopens_the_job(chain: Deployment) -> None:
    m, w3 = chain.market, chain.w3
    job_id = chain.create_job(3, 0)
    chain.accepted(job_id, chain.bob)
    set_time(w3, chain.deadline(job_id) + 1)
    burned = w3.eth.get_balance(BURN_ADDRESS)

    receipt = send(w3, m.functions.slash(job_id), chain.dave.address)
    assert events(m, "ProverSlashed", receipt) == [
        {"jobId": job_id, "prover": chain.bob.address, "collateral": COLLATERAL}
    ]
    assert events(chain.staking, "CollateralSlashed", receipt) == [
        {"prover": chain.bob.address, "amount": COLLATERAL}
    ]
    job = chain.job(job_id)
    assert (job["status"], job["deadline"], job["prover"], job["fee"]) == (OPEN, 0, ZERO, 0)
    assert job["maxFee"] == MAX_FEE
    assert w3.eth.get_balance(BURN_ADDRESS) == burned + COLLATERAL
    assert chain.stake_of(chain.bob) == (STAKE - COLLATERAL, 0)
    assert chain.stats(chain.bob) == (0, 1, 0, 0)
    assert chain.balance(chain.alice) == 0
    assert chain.balance(chain.dave) == 0
    assert w3.eth.get_balance(m.address) == MAX_FEE


def test_a_slashed_job_is_awarded_again_and_settles(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.accepted(job_id, chain.bob)
    set_time(chain.w3, chain.deadline(job_id) + 1)
    send(chain.w3, chain.market.functions.slash(job_id), chain.dave.address)

    fee = FEE // 2
    chain.accepted(job_id, chain.carol, fee)
    chain.submit(job_id, chain.circuits[3].statements[0], chain.carol)
    assert chain.balance(chain.carol) == fee
    assert chain.balance(chain.alice) == MAX_FEE - fee
    assert chain.stats(chain.carol) == (1, 0, 0, fee)
    assert chain.stats(chain.bob) == (0, 1, 0, 0)


def test_a_lapsed_award_is_awarded_to_another_prover(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    set_time(chain.w3, chain.deadline(job_id) + 1)

    receipt = chain.award(job_id, chain.carol)
    assert events(chain.market, "AwardLapsed", receipt) == [
        {"jobId": job_id, "prover": chain.bob.address}
    ]
    assert chain.job(job_id)["prover"] == chain.carol.address
    assert chain.stats(chain.bob) == (0, 0, 1, 0)
    assert chain.stake_of(chain.bob) == (STAKE, 0)
    assert_reverts(
        chain.market,
        "NotAssignedProver",
        lambda: chain.market.functions.acceptJob(job_id).transact({"from": chain.bob.address}),
    )
    chain.accept(job_id, chain.carol)
    chain.submit(job_id, chain.circuits[3].statements[0], chain.carol)
    assert chain.balance(chain.carol) == FEE


def test_a_lapsed_award_may_go_to_the_same_prover_again(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    set_time(chain.w3, chain.deadline(job_id) + 1)
    chain.accepted(job_id, chain.bob)
    assert chain.stats(chain.bob) == (0, 0, 1, 0)
    assert chain.stake_of(chain.bob) == (STAKE, COLLATERAL)


def test_cancel_refunds_an_open_job_at_once(chain: Deployment) -> None:
    m = chain.market
    job_id = chain.create_job(3, 0)
    receipt = send(chain.w3, m.functions.cancelJob(job_id), chain.alice.address)
    assert events(m, "JobCancelled", receipt) == [{"jobId": job_id}]
    assert events(m, "AwardLapsed", receipt) == []
    job = chain.job(job_id)
    assert (job["status"], job["deadline"], job["prover"], job["fee"]) == (CANCELLED, 0, ZERO, 0)
    assert chain.balance(chain.alice) == MAX_FEE


def test_cancel_refunds_a_lapsed_award_and_records_the_lapse(chain: Deployment) -> None:
    m = chain.market
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    set_time(chain.w3, chain.deadline(job_id) + 1)
    receipt = send(chain.w3, m.functions.cancelJob(job_id), chain.alice.address)
    assert events(m, "AwardLapsed", receipt) == [{"jobId": job_id, "prover": chain.bob.address}]
    job = chain.job(job_id)
    assert (job["status"], job["deadline"], job["prover"], job["fee"]) == (CANCELLED, 0, ZERO, 0)
    assert chain.balance(chain.alice) == MAX_FEE
    assert chain.stats(chain.bob) == (0, 0, 1, 0)


def test_a_slashed_job_can_be_cancelled(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.accepted(job_id, chain.bob)
    set_time(chain.w3, chain.deadline(job_id) + 1)
    send(chain.w3, chain.market.functions.slash(job_id), chain.carol.address)
    send(chain.w3, chain.market.functions.cancelJob(job_id), chain.alice.address)
    assert chain.balance(chain.alice) == MAX_FEE
    assert chain.stats(chain.bob) == (0, 1, 0, 0)  # the slash is not also a lapse
