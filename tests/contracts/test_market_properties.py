"""Random action sequences against the deployed contracts, checked against a Python model.

Every transaction is mined at a timestamp the model chooses (evm_setNextBlockTimestamp)
with a fixed gas limit (no estimate), so the model predicts exactly whether it succeeds
and what it moves. After every step: the market holds exactly the escrow of open and
awarded jobs plus all credited balances; the staking contract holds exactly stakes plus
pending withdrawals; locked never exceeds stake; and balances and fee counters match the
model, which credits a prover only for a proof that verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.contracts.chain import (
    call_words,
    next_tx_at,
    now,
    revert_to,
    rpc_batch,
    snapshot,
    words,
)
from tests.contracts.circuits import Statement
from tests.contracts.deployment import RESCUE_WINDOW, STAKE, WITHDRAWAL_DELAY, Deployment

pytestmark = pytest.mark.slow

ETH = 10**18
GAS = 2_000_000  # above any single call here (submitProof with 3 signals is ~0.3M)
N_PUBLIC = 3


@dataclass
class ModelJob:
    requester: str
    statement: int
    max_fee: int
    collateral: int
    bid_deadline: int
    proof_deadline: int
    status: str = "open"
    prover: str = ""
    fee: int = 0


class MarketMachine(RuleBasedStateMachine):
    def __init__(self, chain: Deployment) -> None:
        super().__init__()
        self.c = chain
        self.snapshot = snapshot(chain.w3)
        self.t = now(chain.w3)
        self.requesters = [chain.alice, chain.dave]
        self.provers = [chain.bob, chain.carol, chain.dave]
        self.accounts = {s.address for s in (*self.requesters, *self.provers)}
        self.jobs: dict[int, ModelJob] = {}
        self.balance = dict.fromkeys(self.accounts, 0)
        self.fees = dict.fromkeys(self.accounts, 0)
        self.stake = {a: [0, 0] for a in self.accounts}  # [stake, locked]
        for p in (chain.bob, chain.carol):
            self.stake[p.address][0] = STAKE
        self.pending = {a: [0, 0] for a in self.accounts}  # [amount, availableAt]

    def teardown(self) -> None:
        revert_to(self.c.w3, self.snapshot)

    def _tx(self, call: Any, sender: str, value: int = 0) -> bool:
        self.t += 1
        next_tx_at(self.c.w3, self.t)
        tx = call.transact({"from": sender, "value": value, "gas": GAS})
        return bool(self.c.w3.eth.wait_for_transaction_receipt(tx)["status"])

    def _job(self, index: int) -> tuple[int, ModelJob]:
        job_id = sorted(self.jobs)[index % len(self.jobs)]
        return job_id, self.jobs[job_id]

    def _statement(self, index: int) -> Statement:
        return self.c.circuits[N_PUBLIC].statements[index]

    @initialize(collateral=st.sampled_from([0, 1, 2]), fee=st.integers(0, 1))
    def awarded_job(self, collateral: int, fee: int) -> None:
        """Every run starts with one job awarded to bob, so proofs and slashes are reachable."""
        self.create(0, 0, 1, collateral, 600, 1800)
        self.award(0, 0, fee)

    @rule(
        who=st.integers(0, 1),
        statement=st.integers(0, 2),
        max_fee=st.integers(1, 3),
        collateral=st.sampled_from([0, 1, 2, 4]),
        bid_window=st.integers(10, 600),
        proof_window=st.integers(10, 2000),
    )
    def create(
        self,
        who: int,
        statement: int,
        max_fee: int,
        collateral: int,
        bid_window: int,
        proof_window: int,
    ) -> None:
        requester = self.requesters[who].address
        bid_deadline = self.t + 1 + bid_window
        job = ModelJob(
            requester,
            statement,
            max_fee * ETH,
            collateral * ETH,
            bid_deadline,
            bid_deadline + proof_window,
        )
        commitment = self._statement(statement).commitment
        call = self.c.market.functions.createJob(
            self.c.models[N_PUBLIC], commitment, job.collateral, bid_deadline, job.proof_deadline
        )
        assert self._tx(call, requester, job.max_fee)
        self.jobs[len(self.jobs) + 1] = job

    @precondition(lambda self: self.jobs)
    @rule(index=st.integers(0, 50), who=st.integers(0, 2), fee=st.integers(0, 3))
    def award(self, index: int, who: int, fee: int) -> None:
        job_id, job = self._job(index)
        prover = self.provers[who]
        stake, locked = self.stake[prover.address]
        expected = (
            job.status == "open"
            and self.t + 1 <= job.bid_deadline
            and fee * ETH <= job.max_fee
            and stake - locked >= job.collateral
        )
        bid, signature = self.c.bid(job_id, prover, fee * ETH, expiry=self.t + 1000)
        call = self.c.market.functions.awardJob(job_id, bid, signature)
        assert self._tx(call, job.requester) == expected
        if expected:
            job.status, job.prover, job.fee = "awarded", prover.address, fee * ETH
            self.stake[prover.address][1] += job.collateral

    @precondition(lambda self: self.jobs)
    @rule(index=st.integers(0, 50), who=st.integers(0, 5), valid=st.integers(0, 2))
    def submit(self, index: int, who: int, valid: int) -> None:
        job_id, job = self._job(index)
        # who >= 3 picks the assigned prover (when there is one) and valid > 0 the right proof,
        # so that proofs often land; the rest are wrong senders and proofs of other statements.
        sender = job.prover if who >= 3 and job.prover else self.provers[who % 3].address
        good = self._statement(job.statement)
        statement = (
            good
            if valid
            else Statement(good.public, self._statement((job.statement + 1) % 3).proof)
        )
        t = self.t + 1
        on_time = t <= job.proof_deadline and sender == job.prover
        rescue = (
            job.proof_deadline < t <= job.proof_deadline + RESCUE_WINDOW
            and sender != job.prover
            and self.stake[sender][0] > 0
        )
        expected = job.status == "awarded" and valid > 0 and (on_time or rescue)
        call = self.c.market.functions.submitProof(job_id, list(statement.proof), statement.outputs)
        assert self._tx(call, sender) == expected
        if not expected:
            return
        self.fees[sender] += job.fee
        self.stake[job.prover][1] -= job.collateral
        if on_time:
            job.status = "fulfilled"
            self.balance[sender] += job.fee
            self.balance[job.requester] += job.max_fee - job.fee
        else:
            job.status = "rescued"
            half = job.collateral // 2
            self.balance[sender] += job.fee + half
            self.balance[job.requester] += job.max_fee - job.fee + job.collateral - half
            self.stake[job.prover][0] -= job.collateral

    @precondition(lambda self: self.jobs)
    @rule(index=st.integers(0, 50))
    def slash(self, index: int) -> None:
        job_id, job = self._job(index)
        expected = job.status == "awarded" and self.t + 1 > job.proof_deadline + RESCUE_WINDOW
        assert self._tx(self.c.market.functions.slash(job_id), self.c.deployer.address) == expected
        if expected:
            job.status = "slashed"
            self.balance[job.requester] += job.max_fee + job.collateral
            self.stake[job.prover][0] -= job.collateral
            self.stake[job.prover][1] -= job.collateral

    @precondition(lambda self: self.jobs)
    @rule(index=st.integers(0, 50))
    def cancel(self, index: int) -> None:
        job_id, job = self._job(index)
        expected = job.status == "open" and self.t + 1 > job.bid_deadline
        assert self._tx(self.c.market.functions.cancelJob(job_id), job.requester) == expected
        if expected:
            job.status = "cancelled"
            self.balance[job.requester] += job.max_fee

    @rule(who=st.integers(0, 3))
    def withdraw(self, who: int) -> None:
        account = sorted(self.accounts)[who]
        expected = self.balance[account] > 0
        assert self._tx(self.c.market.functions.withdraw(), account) == expected
        self.balance[account] = 0

    @rule(who=st.integers(0, 2), amount=st.integers(1, 12))
    def deposit(self, who: int, amount: int) -> None:
        prover = self.provers[who].address
        assert self._tx(self.c.staking.functions.deposit(), prover, amount * ETH)
        self.stake[prover][0] += amount * ETH

    @rule(who=st.integers(0, 2), amount=st.integers(1, 12))
    def request_withdrawal(self, who: int, amount: int) -> None:
        prover = self.provers[who].address
        stake, locked = self.stake[prover]
        expected = amount * ETH <= stake - locked
        call = self.c.staking.functions.requestWithdrawal(amount * ETH)
        assert self._tx(call, prover) == expected
        if expected:
            self.stake[prover][0] -= amount * ETH
            self.pending[prover] = [
                self.pending[prover][0] + amount * ETH,
                self.t + WITHDRAWAL_DELAY,
            ]

    @rule(who=st.integers(0, 2))
    def withdraw_stake(self, who: int) -> None:
        prover = self.provers[who].address
        amount, available_at = self.pending[prover]
        expected = amount > 0 and self.t + 1 >= available_at
        assert self._tx(self.c.staking.functions.withdraw(), prover) == expected
        if expected:
            self.pending[prover] = [0, 0]

    @rule(seconds=st.sampled_from([1, 30, 300, 900, 1800, RESCUE_WINDOW, WITHDRAWAL_DELAY]))
    def advance_time(self, seconds: int) -> None:
        self.t += seconds

    @invariant()
    def books_balance(self) -> None:
        m, s = self.c.market, self.c.staking
        accounts = sorted(self.accounts)
        requests = [
            ("eth_getBalance", [m.address, "latest"]),
            ("eth_getBalance", [s.address, "latest"]),
        ]
        for a in accounts:
            requests += [
                call_words(m, "balanceOf(address)", a),
                call_words(m, "proverStats(address)", a),
                call_words(s, "stakeOf(address)", a),
                call_words(s, "pendingWithdrawalOf(address)", a),
            ]
        results = rpc_batch(self.c.w3, requests)
        market_eth, staking_eth = int(results[0], 16), int(results[1], 16)
        escrow = sum(j.max_fee for j in self.jobs.values() if j.status in ("open", "awarded"))
        staked = 0
        for i, a in enumerate(accounts):
            balance, stats, stake, pending = (words(r) for r in results[2 + 4 * i : 6 + 4 * i])
            assert balance[0] == self.balance[a]
            assert stats[2] == self.fees[a]  # fees credited only for verified proofs
            assert stake == self.stake[a]
            assert stake[1] <= stake[0]
            staked += stake[0] + pending[0]
        assert market_eth == escrow + sum(self.balance.values())
        assert staking_eth == staked


def test_random_action_sequences_keep_the_books(deployed: Deployment) -> None:
    run_state_machine_as_test(
        lambda: MarketMachine(deployed),
        settings=settings(
            max_examples=30,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
