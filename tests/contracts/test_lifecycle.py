"""A job from creation to payout with a real proof, plus rescue, slash and cancel."""

from __future__ import annotations

import pytest

from tests.contracts.chain import assert_reverts, events, send, set_time
from tests.contracts.deployment import (
    COLLATERAL,
    FEE,
    MAX_FEE,
    RESCUE_WINDOW,
    STAKE,
    Deployment,
)

pytestmark = pytest.mark.slow

OPEN, AWARDED, FULFILLED, RESCUED, SLASHED, CANCELLED = range(1, 7)


def test_full_lifecycle_pays_the_prover_and_refunds_the_requester(chain: Deployment) -> None:
    m, w3 = chain.market, chain.w3
    statement = chain.circuits[3].statements[0]
    job_id = chain.create_job(3, 0)
    assert chain.job(job_id)["status"] == OPEN
    assert w3.eth.get_balance(m.address) == MAX_FEE

    chain.award(job_id, chain.bob)
    assert chain.job(job_id)["status"] == AWARDED
    assert chain.staking.functions.stakeOf(chain.bob.address).call() == [STAKE, COLLATERAL]

    receipt = chain.submit(job_id, statement, chain.bob)
    (event,) = events(m, "ProofAccepted", receipt)
    assert event["outputs"] == statement.outputs
    assert event["rescued"] is False
    assert chain.job(job_id)["status"] == FULFILLED
    assert m.functions.balanceOf(chain.bob.address).call() == FEE
    assert m.functions.balanceOf(chain.alice.address).call() == MAX_FEE - FEE
    assert m.functions.proverStats(chain.bob.address).call() == [1, 0, FEE]
    assert chain.staking.functions.stakeOf(chain.bob.address).call() == [STAKE, 0]

    before = w3.eth.get_balance(chain.bob.address)
    receipt = send(w3, m.functions.withdraw(), chain.bob.address)
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(chain.bob.address) == before + FEE - gas_cost
    send(w3, m.functions.withdraw(), chain.alice.address)
    assert w3.eth.get_balance(m.address) == 0
    assert_reverts(
        m, "NothingToWithdraw", lambda: m.functions.withdraw().transact({"from": chain.bob.address})
    )


def test_rescue_pays_the_rescuer_and_slashes_the_assigned_prover(chain: Deployment) -> None:
    m = chain.market
    statement = chain.circuits[3].statements[0]
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    set_time(chain.w3, int(chain.job(job_id)["proofDeadline"]) + 1)

    receipt = chain.submit(job_id, statement, chain.carol)
    assert events(m, "ProofAccepted", receipt)[0]["rescued"] is True
    assert chain.job(job_id)["status"] == RESCUED
    half = COLLATERAL // 2
    assert m.functions.balanceOf(chain.carol.address).call() == FEE + half
    assert m.functions.balanceOf(chain.alice.address).call() == MAX_FEE - FEE + COLLATERAL - half
    assert m.functions.proverStats(chain.carol.address).call() == [1, 0, FEE]
    assert m.functions.proverStats(chain.bob.address).call() == [0, 1, 0]
    assert chain.staking.functions.stakeOf(chain.bob.address).call() == [STAKE - COLLATERAL, 0]
    assert chain.w3.eth.get_balance(m.address) == MAX_FEE + COLLATERAL


def test_slash_after_the_rescue_window_refunds_escrow_and_collateral(chain: Deployment) -> None:
    m = chain.market
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    deadline = int(chain.job(job_id)["proofDeadline"])
    set_time(chain.w3, deadline + RESCUE_WINDOW - 300)  # margin: estimates run at wall time
    assert_reverts(
        m,
        "RescueWindowOpen",
        lambda: m.functions.slash(job_id).transact({"from": chain.dave.address}),
    )
    set_time(chain.w3, deadline + RESCUE_WINDOW + 1)
    statement = chain.circuits[3].statements[0]
    assert_reverts(m, "RescueWindowClosed", lambda: chain.submit(job_id, statement, chain.carol))

    send(chain.w3, m.functions.slash(job_id), chain.dave.address)
    assert chain.job(job_id)["status"] == SLASHED
    assert m.functions.balanceOf(chain.alice.address).call() == MAX_FEE + COLLATERAL
    assert m.functions.proverStats(chain.bob.address).call() == [0, 1, 0]
    assert_reverts(
        m, "WrongStatus", lambda: m.functions.slash(job_id).transact({"from": chain.dave.address})
    )


def test_cancel_refunds_a_never_awarded_job_after_its_bid_deadline(chain: Deployment) -> None:
    m = chain.market
    job_id = chain.create_job(3, 0)
    alice = chain.alice.address
    assert_reverts(
        m, "BidDeadlineNotPassed", lambda: m.functions.cancelJob(job_id).transact({"from": alice})
    )
    set_time(chain.w3, int(chain.job(job_id)["bidDeadline"]) + 1)
    assert_reverts(
        m,
        "NotRequester",
        lambda: m.functions.cancelJob(job_id).transact({"from": chain.bob.address}),
    )
    send(chain.w3, m.functions.cancelJob(job_id), alice)
    assert chain.job(job_id)["status"] == CANCELLED
    assert m.functions.balanceOf(alice).call() == MAX_FEE
    bid, sig = chain.bid(job_id, chain.bob)
    assert_reverts(
        m, "WrongStatus", lambda: m.functions.awardJob(job_id, bid, sig).transact({"from": alice})
    )
