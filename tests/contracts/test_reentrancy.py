"""A hostile receiver that calls back on payment gets paid once and its re-entry refused."""

from __future__ import annotations

import pytest
from web3.contract import Contract
from web3.types import TxReceipt

from tests.contracts.chain import deploy, error_selector, now, send, set_time
from tests.contracts.deployment import MAX_FEE, STAKE, WITHDRAWAL_DELAY, Deployment

pytestmark = pytest.mark.slow


def _forward(
    chain: Deployment, attacker: Contract, target: Contract, data: str, value: int = 0
) -> TxReceipt:
    call = attacker.functions.forward(target.address, data)
    return send(chain.w3, call, chain.dave.address, value)


def _cancelled_job_credit(chain: Deployment, attacker: Contract) -> None:
    m = chain.market
    t = now(chain.w3)
    create = m.encode_abi("createJob", [chain.models[1], 5, 0, t + 10, t + 20])
    _forward(chain, attacker, m, create, MAX_FEE)
    job_id = m.functions.jobCount().call()
    set_time(chain.w3, t + 11)
    _forward(chain, attacker, m, m.encode_abi("cancelJob", [job_id]))
    assert m.functions.balanceOf(attacker.address).call() == MAX_FEE


@pytest.mark.parametrize("reentry", ["withdraw", "cancelJob"])
def test_market_withdraw_cannot_be_reentered(chain: Deployment, reentry: str) -> None:
    m, w3 = chain.market, chain.w3
    attacker = deploy(w3, "ReentrantCaller", sender=chain.dave.address)
    _cancelled_job_credit(chain, attacker)
    attack = m.encode_abi(reentry, [] if reentry == "withdraw" else [1])
    send(w3, attacker.functions.arm(m.address, attack), chain.dave.address)

    _forward(chain, attacker, m, m.encode_abi("withdraw", []))
    assert attacker.functions.reentered().call() is False
    assert attacker.functions.reentryError().call() == error_selector(m.abi, "Reentrancy")
    assert attacker.functions.paymentsReceived().call() == 1
    assert w3.eth.get_balance(attacker.address) == MAX_FEE
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
