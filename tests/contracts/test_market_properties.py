"""Random action sequences against the deployed contracts, checked against a Python model of
settlement v2.

Every transaction is mined at a timestamp the model chooses (evm_setNextBlockTimestamp)
with a fixed gas limit (no estimate), so the model predicts exactly whether it succeeds
and what it moves. Time advances by fixed steps, and by exactly the seconds left to a
deadline or a withdrawal's payout time (so that the next transaction lands on it) or one
second more. Amounts are odd numbers of wei. After every step:

- the market holds exactly the escrow of Open, Awarded and Accepted jobs plus all balances;
- the staking contract holds exactly the stakes plus the pending withdrawals, and no
  prover's locked collateral exceeds its stake;
- the burn address received exactly the collateral of every slash;
- every job, balance, stake, pending withdrawal and proverStats matches the model;
- every actor's ether is its starting ether, minus what it paid in, plus what it withdrew,
  minus the gas its receipts show;
- the wei ledger closes: escrows + deposits == withdrawn balances + withdrawn stake + burned
  + what the two contracts still hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.contract import Contract

from tests.contracts.chain import (
    Terms,
    bid_signature,
    bid_tuple,
    call_words,
    next_tx_at,
    now,
    revert_to,
    rpc_batch,
    snapshot,
    words,
)
from tests.contracts.circuits import Statement
from tests.contracts.deployment import (
    ACCEPTED,
    AWARDED,
    BURN_ADDRESS,
    CANCELLED,
    FULFILLED,
    OPEN,
    STAKE,
    WITHDRAWAL_DELAY,
    Deployment,
)

pytestmark = pytest.mark.slow

GAS = 2_000_000  # above any single call here (submitProof with 3 signals is ~0.3M)
FEES = {"maxFeePerGas": 5 * 10**9, "maxPriorityFeePerGas": 1}  # base fee never exceeds 1 gwei
N_PUBLIC = 3
MAX_WINDOW = 30 * 24 * 3600
ZERO = "0x" + "00" * 20
ETH = 10**18
MAX_FEES = [0, 1, 7, ETH + 1, 3 * ETH + 5]
COLLATERALS = [0, 1, 3, ETH + 1, 4 * ETH + 7, STAKE + 1]
WINDOWS = [0, 1, 2, 601, 1801, 3601, MAX_WINDOW, MAX_WINDOW + 1]
DEPOSITS = [0, 1, 5, ETH + 3, 7 * ETH + 1]
STEPS = [1, 30, 600, 1800, WITHDRAWAL_DELAY]  # seconds


@dataclass
class ModelJob:
    requester: str
    statement: int
    max_fee: int
    collateral: int
    accept_window: int
    proof_window: int
    status: int = OPEN
    prover: str = ZERO
    fee: int = 0
    deadline: int = 0


@dataclass
class ModelAccount:
    eth: int
    balance: int = 0
    fulfilled: int = 0
    slashed: int = 0
    lapsed: int = 0
    fees: int = 0
    stake: int = 0
    locked: int = 0
    pending: int = 0
    available_at: int = 0


def _awardable(job: ModelJob, t: int) -> bool:
    return job.status == OPEN or (job.status == AWARDED and t > job.deadline)


def _acceptable(job: ModelJob, t: int) -> bool:
    return job.status == AWARDED and t <= job.deadline


def _provable(job: ModelJob, t: int) -> bool:
    return job.status == ACCEPTED and t <= job.deadline


class MarketMachine(RuleBasedStateMachine):
    def __init__(self, chain: Deployment) -> None:
        super().__init__()
        self.c = chain
        w3 = chain.w3
        self.snapshot = snapshot(w3)
        self.t = now(w3)
        self.chain_id = chain.chain_id
        self.requesters = [chain.alice, chain.dave]
        self.provers = [chain.bob, chain.carol, chain.dave]
        self.signers = {s.address: s for s in (chain.alice, chain.bob, chain.carol, chain.dave)}
        self.actors = sorted(self.signers)
        self.acct = {a: ModelAccount(eth=w3.eth.get_balance(a)) for a in self.actors}
        for p in (chain.bob, chain.carol):
            self.acct[p.address].stake = STAKE
        self.jobs: dict[int, ModelJob] = {}
        self.burn_start = w3.eth.get_balance(BURN_ADDRESS)
        # The closed wei ledger of the two contracts, counted from this snapshot on.
        self.held_start = w3.eth.get_balance(chain.market.address) + w3.eth.get_balance(
            chain.staking.address
        )
        self.entered = self.withdrawn = self.unstaked = self.burned = 0

    def teardown(self) -> None:
        revert_to(self.c.w3, self.snapshot)

    # transactions

    def _tx(
        self, contract: Contract, fn: str, args: list[Any], sender: str, value: int = 0
    ) -> bool:
        """Mine one call at the model's next second; charge its gas (and, if it succeeded, its
        value) to the sender's modelled ether; return whether it succeeded."""
        w3 = self.c.w3
        self.t += 1
        next_tx_at(w3, self.t)
        tx = {
            "from": sender,
            "to": contract.address,
            "data": contract.encode_abi(fn, args),
            "value": value,
            "gas": GAS,
            "chainId": self.chain_id,
            **FEES,
        }
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))  # type: ignore[arg-type]
        assert receipt["blockTimestamp"] == self.t  # anvil reports the block's timestamp
        self.acct[sender].eth -= receipt["gasUsed"] * receipt["effectiveGasPrice"]
        ok = receipt["status"] == 1
        if ok:
            self.acct[sender].eth -= value
        event(f"{fn} {'succeeds' if ok else 'reverts'}")  # --hypothesis-show-statistics
        return ok

    def _job(self, index: int, prefer: Callable[[ModelJob, int], bool]) -> tuple[int, ModelJob]:
        """Three times in four a job for which ``prefer(job, next second)`` holds (when there is
        one), else any job, so that lifecycles progress while calls that must fail stay
        frequent."""
        ids = sorted(self.jobs)
        preferred = [i for i in ids if prefer(self.jobs[i], self.t + 1)]
        pool = preferred if preferred and index % 4 else ids
        job_id = pool[index % len(pool)]
        return job_id, self.jobs[job_id]

    def _statement(self, index: int) -> Statement:
        return self.c.circuits[N_PUBLIC].statements[index]

    def _lapse(self, job: ModelJob) -> None:
        self.acct[job.prover].lapsed += 1

    def _clear(self, job: ModelJob, status: int) -> None:
        job.status, job.prover, job.fee, job.deadline = status, ZERO, 0, 0

    @initialize(
        max_fee=st.sampled_from(MAX_FEES[1:]),
        collateral=st.sampled_from(COLLATERALS[:-1]),
        fee=st.sampled_from([0, 3, 5]),
    )
    def jobs_in_flight(self, max_fee: int, collateral: int, fee: int) -> None:
        """Every run starts with a job accepted by bob, one awarded to carol and one open, so
        that proofs, slashes and lapses are a few steps away."""
        self.create(0, 0, max_fee, collateral, 601, 1801)
        self.award(0, 0, fee, 1000, 1)
        self.accept(0, 3)
        self.create(0, 1, max_fee, collateral, 601, 2)
        self.award(1, 1, fee, 1000, 1)
        self.create(1, 2, max_fee, collateral, 1, 601)
        assert [j.status for j in self.jobs.values()] == [ACCEPTED, AWARDED, OPEN]

    @rule(
        who=st.integers(0, 1),
        statement=st.integers(0, 2),
        max_fee=st.sampled_from(MAX_FEES),
        collateral=st.sampled_from(COLLATERALS),
        accept_window=st.sampled_from(WINDOWS),
        proof_window=st.sampled_from(WINDOWS),
    )
    def create(
        self,
        who: int,
        statement: int,
        max_fee: int,
        collateral: int,
        accept_window: int,
        proof_window: int,
    ) -> None:
        requester = self.requesters[who].address
        expected = max_fee > 0 and all(1 <= w <= MAX_WINDOW for w in (accept_window, proof_window))
        commitment = self._statement(statement).commitment
        args = [self.c.models[N_PUBLIC], commitment, collateral, accept_window, proof_window]
        assert self._tx(self.c.market, "createJob", args, requester, max_fee) == expected
        if expected:
            job = ModelJob(requester, statement, max_fee, collateral, accept_window, proof_window)
            self.jobs[len(self.jobs) + 1] = job
            self.entered += max_fee

    @precondition(lambda self: self.jobs)
    @rule(
        index=st.integers(0, 50),
        who=st.integers(0, 2),
        fee=st.integers(0, 6),
        expiry=st.sampled_from([-1, 0, 1, 1000]),
        sender=st.integers(0, 4),
    )
    def award(self, index: int, who: int, fee: int, expiry: int, sender: int) -> None:
        """fee picks from 0, 1, 3, max/3, max-1, max, max+1; expiry is relative to the tx's
        second; sender 0 is an outsider, anything else the requester."""
        job_id, job = self._job(index, _awardable)
        prover = self.provers[who]
        amount = [0, 1, 3, job.max_fee // 3, job.max_fee - 1, job.max_fee, job.max_fee + 1][fee]
        t = self.t + 1
        caller = job.requester if sender else self.c.bob.address
        lapsed = job.status == AWARDED and t > job.deadline
        expected = (
            caller == job.requester
            and (job.status == OPEN or lapsed)
            and expiry >= 0
            and amount <= job.max_fee
        )
        terms = Terms(
            job.requester,
            self.c.models[N_PUBLIC],
            self._statement(job.statement).commitment,
            job.collateral,
            job.accept_window,
            job.proof_window,
        )
        bid = bid_tuple(job_id, prover.address, amount, t + expiry, terms)
        signature = bid_signature(prover, self.c.market.address, self.chain_id, bid)
        args = [job_id, bid, signature]
        assert self._tx(self.c.market, "awardJob", args, caller) == expected
        if expected:
            if lapsed:
                self._lapse(job)
            job.status, job.prover, job.fee = AWARDED, prover.address, amount
            job.deadline = t + job.accept_window

    def _sender(self, job: ModelJob, who: int) -> str:
        """who >= 3 picks the assigned prover (when there is one), else one of the provers."""
        return job.prover if who >= 3 and job.prover != ZERO else self.provers[who % 3].address

    @precondition(lambda self: self.jobs)
    @rule(index=st.integers(0, 50), who=st.integers(0, 8))
    def accept(self, index: int, who: int) -> None:
        job_id, job = self._job(index, _acceptable)
        sender = self._sender(job, who)
        t = self.t + 1
        a = self.acct[sender]
        expected = (
            job.status == AWARDED
            and sender == job.prover
            and t <= job.deadline
            and a.stake - a.locked >= job.collateral
        )
        assert self._tx(self.c.market, "acceptJob", [job_id], sender) == expected
        if expected:
            job.status, job.deadline = ACCEPTED, t + job.proof_window
            a.locked += job.collateral

    @precondition(lambda self: self.jobs)
    @rule(index=st.integers(0, 50), who=st.integers(0, 8), valid=st.integers(0, 2))
    def submit(self, index: int, who: int, valid: int) -> None:
        """valid > 0 offers the job's own statement; 0 a proof of another statement."""
        job_id, job = self._job(index, _provable)
        sender = self._sender(job, who)
        good = self._statement(job.statement)
        statement = (
            good
            if valid
            else Statement(good.public, self._statement((job.statement + 1) % 3).proof)
        )
        t = self.t + 1
        expected = (
            job.status == ACCEPTED and sender == job.prover and t <= job.deadline and valid > 0
        )
        args = [job_id, list(statement.proof), statement.outputs]
        assert self._tx(self.c.market, "submitProof", args, sender) == expected
        if expected:
            prover, requester = self.acct[job.prover], self.acct[job.requester]
            prover.balance += job.fee
            prover.fees += job.fee
            prover.fulfilled += 1
            prover.locked -= job.collateral
            requester.balance += job.max_fee - job.fee
            job.status, job.deadline = FULFILLED, 0

    @precondition(lambda self: self.jobs)
    @rule(index=st.integers(0, 50), who=st.integers(0, 3))
    def slash(self, index: int, who: int) -> None:
        job_id, job = self._job(index, lambda j, _: j.status == ACCEPTED)
        expected = job.status == ACCEPTED and self.t + 1 > job.deadline
        caller = self.actors[who]
        assert self._tx(self.c.market, "slash", [job_id], caller) == expected
        if expected:
            prover = self.acct[job.prover]
            prover.slashed += 1
            prover.stake -= job.collateral
            prover.locked -= job.collateral
            self.burned += job.collateral
            self._clear(job, OPEN)

    @precondition(lambda self: self.jobs)
    @rule(index=st.integers(0, 50), sender=st.integers(0, 4))
    def cancel(self, index: int, sender: int) -> None:
        """sender 0 is an outsider, anything else the requester."""
        job_id, job = self._job(index, _awardable)
        caller = job.requester if sender else self.c.carol.address
        lapsed = job.status == AWARDED and self.t + 1 > job.deadline
        expected = caller == job.requester and (job.status == OPEN or lapsed)
        assert self._tx(self.c.market, "cancelJob", [job_id], caller) == expected
        if expected:
            if lapsed:
                self._lapse(job)
            self.acct[job.requester].balance += job.max_fee
            self._clear(job, CANCELLED)

    @rule(who=st.integers(0, 3))
    def withdraw(self, who: int) -> None:
        account = self.actors[who]
        a = self.acct[account]
        expected = a.balance > 0
        assert self._tx(self.c.market, "withdraw", [], account) == expected
        a.eth += a.balance
        self.withdrawn += a.balance
        a.balance = 0

    @rule(who=st.integers(0, 2), choice=st.integers(0, 9))
    def stake(self, who: int, choice: int) -> None:
        """choice 0-4 deposits one of DEPOSITS; 5-8 requests a withdrawal of 0, 1, all the
        free stake or one wei more; 9 asks for the pending withdrawal to be paid."""
        prover = self.provers[who].address
        a = self.acct[prover]
        if choice < 5:
            amount = DEPOSITS[choice]
            assert self._tx(self.c.staking, "deposit", [], prover, amount) == (amount > 0)
            a.stake += amount
            self.entered += amount
        elif choice < 9:
            free = a.stake - a.locked
            amount = [0, 1, free, free + 1][choice - 5]
            expected = 0 < amount <= free
            assert self._tx(self.c.staking, "requestWithdrawal", [amount], prover) == expected
            if expected:
                a.stake -= amount
                a.pending += amount
                a.available_at = self.t + WITHDRAWAL_DELAY
        else:
            expected = a.pending > 0 and self.t + 1 >= a.available_at
            assert self._tx(self.c.staking, "withdraw", [], prover) == expected
            if expected:
                a.eth += a.pending
                self.unstaked += a.pending
                a.pending = a.available_at = 0

    @rule(choice=st.integers(0, len(STEPS) - 1), index=st.integers(0, 50), extra=st.integers(-1, 1))
    def advance_time(self, choice: int, index: int, extra: int) -> None:
        """Half the time a fixed step (STEPS[choice]); else land the next transaction one second
        before, exactly on, or one second past a running job's deadline or a pending
        withdrawal's payout time."""
        targets = sorted(
            {j.deadline for j in self.jobs.values() if j.deadline}
            | {a.available_at for a in self.acct.values() if a.pending}
        )
        if index % 2 or not targets:
            self.t += STEPS[choice]
        else:
            self.t = max(self.t, targets[index // 2 % len(targets)] + extra - 1)

    # the books

    @invariant()
    def books_balance(self) -> None:
        m, s = self.c.market, self.c.staking
        requests = [
            ("eth_getBalance", [m.address, "latest"]),
            ("eth_getBalance", [s.address, "latest"]),
            ("eth_getBalance", [BURN_ADDRESS, "latest"]),
        ]
        for a in self.actors:
            requests += [
                ("eth_getBalance", [a, "latest"]),
                call_words(m, "balanceOf(address)", a),
                call_words(m, "proverStats(address)", a),
                call_words(s, "stakeOf(address)", a),
                call_words(s, "pendingWithdrawalOf(address)", a),
            ]
        requests += [call_words(m, "getJob(uint256)", job_id) for job_id in sorted(self.jobs)]
        results = rpc_batch(self.c.w3, requests)
        market_eth, staking_eth, burn_eth = (int(r, 16) for r in results[:3])
        offset = 3
        for address in self.actors:
            eth, balance, stats, stake, pending = results[offset : offset + 5]
            offset += 5
            a = self.acct[address]
            assert int(eth, 16) == a.eth
            assert words(balance) == [a.balance]
            assert words(stats) == [a.fulfilled, a.slashed, a.lapsed, a.fees]
            assert words(stake) == [a.stake, a.locked]
            assert a.locked <= a.stake
            assert words(pending) == [a.pending, a.available_at]
        for job_id, raw in zip(sorted(self.jobs), results[offset:], strict=True):
            job = self.jobs[job_id]
            w = words(raw)
            requester, status, deadline, prover, fee = w[0], w[1], w[2], w[4], w[5]
            assert (status, deadline, prover, fee) == (
                job.status,
                job.deadline,
                int(job.prover, 16),
                job.fee,
            )
            assert (requester, w[7], w[8]) == (int(job.requester, 16), job.max_fee, job.collateral)

        escrow = sum(j.max_fee for j in self.jobs.values() if j.status in (OPEN, AWARDED, ACCEPTED))
        balances = sum(a.balance for a in self.acct.values())
        assert market_eth == escrow + balances
        assert staking_eth == sum(a.stake + a.pending for a in self.acct.values())
        assert burn_eth - self.burn_start == self.burned
        held = market_eth + staking_eth - self.held_start
        assert self.entered == self.withdrawn + self.unstaked + self.burned + held


def test_random_action_sequences_keep_the_books(deployed: Deployment) -> None:
    run_state_machine_as_test(
        lambda: MarketMachine(deployed),
        settings=settings(
            max_examples=20,
            stateful_step_count=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
