"""ProverStaking: deposits, delayed withdrawals, the uint96 caps, and that only the market moves
collateral (which it locks when a prover accepts a job)."""

from __future__ import annotations

import pytest

from tests.contracts.chain import (
    assert_mined_reverts,
    assert_reverts,
    deploy,
    events,
    now,
    send,
    set_balance,
    transact_at,
)
from tests.contracts.deployment import (
    BURN_ADDRESS,
    COLLATERAL,
    STAKE,
    WITHDRAWAL_DELAY,
    Deployment,
)

pytestmark = pytest.mark.slow

U96 = 2**96 - 1


def test_withdrawal_pays_out_exactly_when_the_delay_has_passed(chain: Deployment) -> None:
    st, bob, w3 = chain.staking, chain.bob.address, chain.w3
    receipt = send(w3, st.functions.requestWithdrawal(STAKE // 4), bob)
    amount, available_at = st.functions.pendingWithdrawalOf(bob).call()
    assert amount == STAKE // 4
    assert available_at == now(w3) + WITHDRAWAL_DELAY
    assert events(st, "WithdrawalRequested", receipt) == [
        {"prover": bob, "amount": STAKE // 4, "pending": STAKE // 4, "availableAt": available_at}
    ]
    assert chain.stake_of(chain.bob) == (STAKE - STAKE // 4, 0)
    early = transact_at(w3, available_at - 1, st.functions.withdraw(), bob)
    args = assert_mined_reverts(st, "WithdrawalNotReady", early)
    assert int.from_bytes(args, "big") == available_at

    before = w3.eth.get_balance(bob)
    receipt = transact_at(w3, available_at, st.functions.withdraw(), bob)
    assert receipt["status"] == 1
    paid = w3.eth.get_balance(bob) - before + receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert paid == STAKE // 4
    assert events(st, "StakeWithdrawn", receipt) == [{"prover": bob, "amount": STAKE // 4}]
    assert st.functions.pendingWithdrawalOf(bob).call() == [0, 0]
    assert_reverts(
        st, "NoPendingWithdrawal", lambda: st.functions.withdraw().transact({"from": bob})
    )


def test_a_second_request_adds_up_and_restarts_the_delay(chain: Deployment) -> None:
    st, bob, w3 = chain.staking, chain.bob.address, chain.w3
    send(w3, st.functions.requestWithdrawal(3), bob)
    first = st.functions.pendingWithdrawalOf(bob).call()[1]
    transact_at(w3, first - 10, st.functions.requestWithdrawal(4), bob)
    amount, available_at = st.functions.pendingWithdrawalOf(bob).call()
    assert (amount, available_at) == (7, first - 10 + WITHDRAWAL_DELAY)
    assert chain.stake_of(chain.bob) == (STAKE - 7, 0)
    early = transact_at(w3, first, st.functions.withdraw(), bob)
    assert_mined_reverts(st, "WithdrawalNotReady", early)


def test_exactly_the_free_stake_can_be_requested(chain: Deployment) -> None:
    st, bob = chain.staking, chain.bob.address
    chain.accepted(chain.create_job(3, 0), chain.bob)
    assert st.functions.freeStakeOf(bob).call() == STAKE - COLLATERAL
    args = assert_reverts(
        st,
        "InsufficientFreeStake",
        lambda: st.functions.requestWithdrawal(STAKE - COLLATERAL + 1).transact({"from": bob}),
    )
    assert int.from_bytes(args[32:64], "big") == STAKE - COLLATERAL
    send(chain.w3, st.functions.requestWithdrawal(STAKE - COLLATERAL), bob)
    assert chain.stake_of(chain.bob) == (COLLATERAL, COLLATERAL)


def test_exactly_the_free_stake_can_be_locked(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0, collateral=STAKE)
    chain.accepted(job_id, chain.bob)
    assert chain.stake_of(chain.bob) == (STAKE, STAKE)
    other = chain.create_job(3, 0, collateral=STAKE + 1)
    chain.award(other, chain.carol)
    args = assert_reverts(
        chain.staking,
        "InsufficientFreeStake",
        lambda: chain.market.functions.acceptJob(other).transact({"from": chain.carol.address}),
    )
    assert args[32:] == STAKE.to_bytes(32, "big") + (STAKE + 1).to_bytes(32, "big")


def test_stake_waiting_to_be_withdrawn_cannot_be_locked(chain: Deployment) -> None:
    send(chain.w3, chain.staking.functions.requestWithdrawal(STAKE), chain.bob.address)
    job_id = chain.create_job(3, 0, collateral=1)
    chain.award(job_id, chain.bob)
    assert_reverts(
        chain.staking,
        "InsufficientFreeStake",
        lambda: chain.market.functions.acceptJob(job_id).transact({"from": chain.bob.address}),
    )


def test_zero_collateral_jobs_need_no_stake(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0, collateral=0)
    chain.accepted(job_id, chain.dave)
    chain.submit(job_id, chain.circuits[3].statements[0], chain.dave)
    assert chain.stake_of(chain.dave) == (0, 0)
    assert chain.stats(chain.dave)[0] == 1


def test_deposits_add_up_to_at_most_the_uint96_cap(chain: Deployment) -> None:
    st, dave = chain.staking, chain.dave.address
    set_balance(chain.w3, dave, 2**100)
    send(chain.w3, st.functions.deposit(), dave, U96 - 5)
    receipt = send(chain.w3, st.functions.deposit(), dave, 5)
    assert events(st, "StakeDeposited", receipt) == [{"prover": dave, "amount": 5, "stake": U96}]
    args = assert_reverts(
        st, "AmountTooLarge", lambda: st.functions.deposit().transact({"from": dave, "value": 1})
    )
    assert int.from_bytes(args, "big") == U96 + 1


def test_pending_withdrawals_add_up_to_at_most_the_uint96_cap(chain: Deployment) -> None:
    st, dave, w3 = chain.staking, chain.dave.address, chain.w3
    set_balance(w3, dave, 2**100)
    send(w3, st.functions.deposit(), dave, U96)
    send(w3, st.functions.requestWithdrawal(U96 - 1), dave)
    send(w3, st.functions.requestWithdrawal(1), dave)  # pending is exactly the cap
    assert st.functions.pendingWithdrawalOf(dave).call()[0] == U96
    send(w3, st.functions.deposit(), dave, 1)
    args = assert_reverts(
        st,
        "AmountTooLarge",
        lambda: st.functions.requestWithdrawal(1).transact({"from": dave}),
    )
    assert int.from_bytes(args, "big") == U96 + 1


def test_only_the_market_moves_collateral(chain: Deployment) -> None:
    st, dave = chain.staking, chain.dave.address
    for fn in (
        st.functions.lockCollateral,
        st.functions.releaseCollateral,
        st.functions.slashCollateral,
    ):
        assert_reverts(
            st, "NotMarket", lambda fn=fn: fn(chain.bob.address, 1).transact({"from": dave})
        )


def test_market_is_set_once_by_the_deployer(chain: Deployment) -> None:
    st = chain.staking
    assert st.functions.market().call() == chain.market.address
    assert_reverts(
        st,
        "NotDeployer",
        lambda: st.functions.setMarket(chain.dave.address).transact({"from": chain.dave.address}),
    )
    assert_reverts(
        st,
        "MarketAlreadySet",
        lambda: st.functions.setMarket(chain.dave.address).transact(
            {"from": chain.deployer.address}
        ),
    )
    fresh = deploy(chain.w3, "ProverStaking", 1, sender=chain.deployer.address)
    assert fresh.functions.market().call() == "0x" + "00" * 20
    assert_reverts(
        fresh,
        "ZeroMarket",
        lambda: fresh.functions.setMarket("0x" + "00" * 20).transact(
            {"from": chain.deployer.address}
        ),
    )
    assert_reverts(
        fresh,
        "NotDeployer",
        lambda: fresh.functions.setMarket(chain.dave.address).transact(
            {"from": chain.dave.address}
        ),
    )
    receipt = send(chain.w3, fresh.functions.setMarket(chain.dave.address), chain.deployer.address)
    assert events(fresh, "MarketSet", receipt) == [{"market": chain.dave.address}]


def test_zero_amounts_are_refused(chain: Deployment) -> None:
    st, bob = chain.staking, chain.bob.address
    assert_reverts(st, "ZeroAmount", lambda: st.functions.deposit().transact({"from": bob}))
    assert_reverts(
        st, "ZeroAmount", lambda: st.functions.requestWithdrawal(0).transact({"from": bob})
    )


def test_constants_name_the_burn_address_and_the_delay(chain: Deployment) -> None:
    assert chain.staking.functions.BURN_ADDRESS().call() == BURN_ADDRESS
    assert chain.staking.functions.withdrawalDelay().call() == WITHDRAWAL_DELAY
    assert chain.w3.eth.get_code(BURN_ADDRESS) == b""
