"""ProverStaking: deposits, delayed withdrawals, and that only the market moves collateral."""

from __future__ import annotations

import pytest

from tests.contracts.chain import assert_reverts, deploy, now, send, set_time
from tests.contracts.deployment import COLLATERAL, STAKE, WITHDRAWAL_DELAY, Deployment

pytestmark = pytest.mark.slow


def test_withdrawal_waits_out_the_delay(chain: Deployment) -> None:
    st, bob, w3 = chain.staking, chain.bob.address, chain.w3
    send(w3, st.functions.requestWithdrawal(STAKE // 4), bob)
    amount, available_at = st.functions.pendingWithdrawalOf(bob).call()
    assert amount == STAKE // 4
    assert available_at == now(w3) + WITHDRAWAL_DELAY
    assert st.functions.stakeOf(bob).call() == [STAKE - STAKE // 4, 0]
    assert_reverts(
        st, "WithdrawalNotReady", lambda: st.functions.withdraw().transact({"from": bob})
    )
    set_time(w3, available_at)
    before = w3.eth.get_balance(bob)
    receipt = send(w3, st.functions.withdraw(), bob)
    paid = w3.eth.get_balance(bob) - before + receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert paid == STAKE // 4
    assert_reverts(
        st, "NoPendingWithdrawal", lambda: st.functions.withdraw().transact({"from": bob})
    )


def test_locked_stake_cannot_be_withdrawn(chain: Deployment) -> None:
    chain.award(chain.create_job(3, 0), chain.bob)
    st, bob = chain.staking, chain.bob.address
    assert st.functions.freeStakeOf(bob).call() == STAKE - COLLATERAL
    assert_reverts(
        st,
        "InsufficientFreeStake",
        lambda: st.functions.requestWithdrawal(STAKE - COLLATERAL + 1).transact({"from": bob}),
    )
    send(chain.w3, st.functions.requestWithdrawal(STAKE - COLLATERAL), bob)
    assert st.functions.stakeOf(bob).call() == [COLLATERAL, COLLATERAL]


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
    assert_reverts(
        fresh,
        "ZeroMarket",
        lambda: fresh.functions.setMarket("0x" + "00" * 20).transact(
            {"from": chain.deployer.address}
        ),
    )


def test_zero_amounts_are_refused(chain: Deployment) -> None:
    st, bob = chain.staking, chain.bob.address
    assert_reverts(st, "ZeroAmount", lambda: st.functions.deposit().transact({"from": bob}))
    assert_reverts(
        st, "ZeroAmount", lambda: st.functions.requestWithdrawal(0).transact({"from": bob})
    )
