"""A hostile receiver that calls back on payment gets paid once and its re-entry refused.

Every market entry point that moves ether or calls out (withdraw, acceptJob, submitProof,
slash) is guarded; awardJob and cancelJob only write the market's own books, so re-entering
them from a payment is allowed and changes nothing but what they always change.
"""

from __future__ import annotations

import pytest
from web3.contract import Contract
from web3.types import TxReceipt

from tests.contracts.chain import deploy, error_selector, now, send, set_time
from tests.contracts.deployment import CANCELLED, MAX_FEE, STAKE, WITHDRAWAL_DELAY, Deployment

pytestmark = pytest.mark.slow


def _forward(
    chain: Deployment, attacker: Contract, target: Contract, data: str, value: int = 0
) -> TxReceipt:
    call = attacker.functions.forward(target.address, data)
    return send(chain.w3, call, chain.dave.address, value)


def _attacker_job(chain: Deployment, attacker: Contract) -> int:
    m = chain.market
    create = m.encode_abi("createJob", [chain.models[1], 5, 0, 10, 20])
    _forward(chain, attacker, m, create, MAX_FEE)
    return int(m.functions.jobCount().call())


def _cancelled_job_credit(chain: Deployment, attacker: Contract) -> None:
    m = chain.market
    job_id = _attacker_job(chain, attacker)
    _forward(chain, attacker, m, m.encode_abi("cancelJob", [job_id]))
    assert m.functions.balanceOf(attacker.address).call() == MAX_FEE


REENTRIES = {
    "withdraw": [],
    "acceptJob": [1],
    "submitProof": [1, [0] * 8, [0, 0]],
    "slash": [1],
}


@pytest.mark.parametrize("reentry", sorted(REENTRIES))
def test_market_withdraw_cannot_be_reentered(chain: Deployment, reentry: str) -> None:
    m, w3 = chain.market, chain.w3
    attacker = deploy(w3, "ReentrantCaller", sender=chain.dave.address)
    _cancelled_job_credit(chain, attacker)
    attack = m.encode_abi(reentry, REENTRIES[reentry])
    send(w3, attacker.functions.arm(m.address, attack), chain.dave.address)

    _forward(chain, attacker, m, m.encode_abi("withdraw", []))
    assert attacker.functions.reentered().call() is False
    assert attacker.functions.reentryError().call() == error_selector(m.abi, "Reentrancy")
    assert attacker.functions.paymentsReceived().call() == 1
    assert w3.eth.get_balance(attacker.address) == MAX_FEE
    assert w3.eth.get_balance(m.address) == 0


def test_a_cancel_reentered_from_a_payment_only_credits_its_escrow(chain: Deployment) -> None:
    m, w3 = chain.market, chain.w3
    attacker = deploy(w3, "ReentrantCaller", sender=chain.dave.address)
    _cancelled_job_credit(chain, attacker)
    second = _attacker_job(chain, attacker)
    send(
        w3,
        attacker.functions.arm(m.address, m.encode_abi("cancelJob", [second])),
        chain.dave.address,
    )

    _forward(chain, attacker, m, m.encode_abi("withdraw", []))
    assert attacker.functions.reentered().call() is True
    assert chain.job(second)["status"] == CANCELLED  # from inside the payment
    assert m.functions.balanceOf(attacker.address).call() == MAX_FEE
    assert w3.eth.get_balance(m.address) == MAX_FEE
    _forward(chain, attacker, m, m.encode_abi("withdraw", []))
    assert w3.eth.get_balance(attacker.address) == 2 * MAX_FEE  # exactly its two escrows
    assert w3.eth.get_balance(m.address) == 0


def test_staking_withdraw_cannot_be_reentered(chain: Deployment) -> None:
    st, w3 = chain.staking, chain.w3
    attacker = deploy(w3, "ReentrantCaller", sender=chain.dave.address)
    _forward(chain, attacker, st, st.encode_abi("deposit", []), STAKE)
    _forward(chain, attacker, st, st.encode_abi("requestWithdrawal", [STAKE]))
    send(w3, attacker.functions.arm(st.address, st.encode_abi("withdraw", [])), chain.dave.address)
    set_time(w3, now(w3) + WITHDRAWAL_DELAY)

    _forward(chain, attacker, st, st.encode_abi("withdraw", []))
    assert attacker.functions.reentered().call() is False
    assert attacker.functions.reentryError().call() == error_selector(st.abi, "Reentrancy")
    assert w3.eth.get_balance(attacker.address) == STAKE
    assert w3.eth.get_balance(st.address) == 2 * STAKE  # bob's and carol's stakes remain
