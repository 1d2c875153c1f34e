"""The fake chain: one market scenario on the real contracts and on the fake (the fake must
not drift), then the fake's settlement-v2 rules one by one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from node.anvil import DEV_PRIVATE_KEYS, AnvilProcess, rpc_call
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.errors import ContractRevert
from node.chain.interface import Chain
from node.chain.types import (
    Bid,
    JobInfo,
    JobRequest,
    JobStatus,
    ModelSpec,
    ProverStats,
    StakeInfo,
    TxResult,
)
from node.keys import dev_account
from protocol.errors import RemoteProtocolError
from protocol.groth16.keys import Proof
from protocol.groth16.verify import verify
from protocol.messages import JobTerms, bid_digest, sign_bid
from tests.trapdoor import TrapdoorKey

from .conftest import mine
from .fake_chain import (
    BURN_ADDRESS,
    FIELD_R,
    MAX_WINDOW,
    ZERO,
    FakeChain,
    FakeLedger,
    fake_miner,
    register_finalized,
)

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4  # dev accounts: requester, prover, prover, bystander
ETH = 10**18
TIME_FIELDS = {"acceptDeadline", "proofDeadline", "deadline", "availableAt", "available_at",
               "contributionDeadline", "contribution_deadline"}  # fmt: skip
# Key addresses, and block numbers and hashes (the two chains mine different blocks).
KEY_FIELDS = {"verifyingKey", "verifying_key", "beaconBlock", "beacon_block", "beacon"}
# A model with two public signals and a key whose trapdoor the test knows, so the scenario
# can make proofs that verify on the real Groth16Verifier; the fake runs the same check.
KEY = TrapdoorKey(2)
SPEC = ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 2, 1234, KEY.key_bytes)
PROOF, OUTPUTS = KEY.proof_words([777, 5]), [5]
Transcript = list[tuple[str, Any]]


def _proof(words: Any) -> Proof:
    def g1(x: int, y: int) -> Any:
        return None if x == y == 0 else (x, y)

    x1, x0, y1, y0 = words[2:6]
    b = None if not any(words[2:6]) else ((x0, x1), (y0, y1))
    return Proof(g1(*words[0:2]), b, g1(*words[6:8]))


def groth16_checker(ledger: FakeLedger) -> Callable[[JobInfo, Any, Any], bool]:
    """The real verifier's rule, for jobs on ``KEY``: the pairing check on the proof."""

    def check(job: JobInfo, proof: Any, outputs: Any) -> bool:
        assert ledger.keys[job.model_id] == KEY.key_bytes
        public = [job.input_commitment, *outputs]
        if len(public) != KEY.n_public or any(not 0 <= v < FIELD_R for v in public):
            return False
        try:
            return verify(KEY.vk, public, _proof(proof))
        except RemoteProtocolError:
            return False

    return check


def normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Drop what legitimately differs: absolute times and the key contract's address."""
    out = dict(values)
    for name in out.keys() & (TIME_FIELDS | KEY_FIELDS):
        out[name] = "<varies>"
    return out


def sign(bid: Bid, chain: Chain, account: int) -> bytes:
    digest = chain.bid_digest(bid)
    return bytes(Account.unsafe_sign_hash(digest, DEV_PRIVATE_KEYS[account]).signature)


def scenario(chains: dict[int, Chain], advance: Callable[[int], None]) -> Transcript:
    """Drive jobs through every settlement-v2 path and record every observable outcome."""
    alice, bob, carol, dave = chains[ALICE], chains[BOB], chains[CAROL], chains[DAVE]
    log: Transcript = []

    def step(label: str, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except ContractRevert as exc:
            log.append((label, ("revert", exc.name, normalise(exc.error_args))))
            return None
        outcome = result[1] if isinstance(result, tuple) else result
        if isinstance(outcome, TxResult):
            log.append((label, [(e.name, normalise(dict(e.args))) for e in outcome.events]))
        else:
            log.append(
                (label, normalise(dict(vars(outcome))) if hasattr(outcome, "__dict__") else outcome)
            )
        return result

    def offer(job_id: int, prover: Chain, fee: int, expiry: int, **changes: Any) -> Bid:
        bid = Bid(job_id, prover.address, fee, expiry, alice.address, 1, 777, ETH // 10, 60, 600)
        return dataclasses.replace(bid, **changes)

    def award(job_id: int, bid: Bid, signer: int) -> Callable[[], Any]:
        return lambda: alice.award_job(bid, sign(bid, chains[signer], signer))

    def window(job_id: int) -> Callable[[], int]:
        return lambda: alice.get_job(job_id).deadline - alice.timestamp()

    opened = step("open for a model",
                  lambda: alice.open_ceremony(SPEC.circuit_hash, b"\xd0" * 32, b"\xe0" * 32, 0,
                                              "m"))  # fmt: skip
    advance(1)
    step("close for a model", lambda: alice.close_ceremony(opened[0] if opened else 0))
    advance(1)  # the beacon block
    advance(1)  # a block that can read its hash
    step("register", lambda: alice.finalize_ceremony(opened[0] if opened else 0, 0,
                                                     b"\xf0" * 32, SPEC))  # fmt: skip
    step("plain", lambda: alice.register_model(SPEC))
    step("plain model's job", lambda: alice.create_job(JobRequest(2, 777, 0, 60, 600, 1)))
    bad_key = ModelSpec(b"\x04" * 32, b"\x04" * 32, b"\x04" * 32, 2, 1, KEY.key_bytes[:-1])
    step("bad key", lambda: alice.register_model(bad_key))
    zeros, twin = bytes(len(KEY.key_bytes)), dataclasses.replace(KEY, delta=KEY.gamma)
    step("zero key", lambda: alice.register_model(dataclasses.replace(SPEC, verifying_key=zeros)))
    step(
        "gamma = delta",
        lambda: alice.register_model(dataclasses.replace(SPEC, verifying_key=twin.key_bytes)),
    )
    step("not owner", lambda: bob.deprecate_model(1))
    step("model", lambda: alice.get_model(1))
    step("deposit", lambda: bob.deposit_stake(ETH))
    request = JobRequest(1, 777, ETH // 10, 60, 600, ETH // 100)
    for label, bad in (
        ("no accept window", JobRequest(1, 777, 0, 0, 5, 1)),
        ("too long a window", JobRequest(1, 777, 0, 60, MAX_WINDOW + 1, 1)),
        ("zero fee", JobRequest(1, 777, 0, 60, 600, 0)),
        ("commitment out of field", JobRequest(1, FIELD_R, 0, 60, 600, 1)),
        ("collateral too large", JobRequest(1, 777, 2**96, 60, 600, 1)),
        ("unknown model", JobRequest(9, 777, 0, 60, 600, 1)),
    ):
        step(label, lambda bad=bad: alice.create_job(bad))  # type: ignore[misc]
    step("create", lambda: alice.create_job(request))
    step("job", lambda: alice.get_job(1))
    now = alice.timestamp()
    bob_bid, carol_bid = (
        offer(1, bob, ETH // 300, now + 5000),
        offer(1, carol, ETH // 200, now + 5000),
    )
    step("not requester", lambda: bob.award_job(bob_bid, sign(bob_bid, bob, BOB)))
    for label, changes in (
        ("other collateral", {"collateral": ETH // 20}),
        ("other requester", {"requester": carol.address}),
        ("other model", {"model_id": 2}),
        ("other input", {"input_commitment": 778}),
        ("other accept window", {"accept_window": 61}),
        ("other proof window", {"proof_window": 601}),
    ):
        step(label, award(1, dataclasses.replace(bob_bid, **changes), BOB))
    step("expired", award(1, dataclasses.replace(bob_bid, expiry=0), BOB))
    step("too dear", award(1, dataclasses.replace(bob_bid, fee=ETH), BOB))
    step("forged", lambda: alice.award_job(bob_bid, sign(bob_bid, carol, CAROL)))
    step("award unstaked", award(1, carol_bid, CAROL))  # an award asks no stake
    step("accept window", window(1))
    step("carol's stake", lambda: carol.stake_of(carol.address))
    step("award in the window", award(1, bob_bid, BOB))
    step("cancel in the window", lambda: alice.cancel_job(1))
    step("accept by another", lambda: bob.accept_job(1))
    step("accept unstaked", lambda: carol.accept_job(1))
    step("submit before accepting", lambda: carol.submit_proof(1, PROOF, OUTPUTS))
    step("slash before accepting", lambda: dave.slash(1))
    step("unknown job", lambda: bob.accept_job(99))
    advance(61)  # past the accept deadline
    step("accept late", lambda: carol.accept_job(1))
    step("re-award", award(1, bob_bid, BOB))
    step("carol's lapse", lambda: alice.prover_stats(carol.address))
    step("accept", lambda: bob.accept_job(1))
    step("proof window", window(1))
    step("accept twice", lambda: bob.accept_job(1))
    step("cancel accepted", lambda: alice.cancel_job(1))
    step("award accepted", award(1, bob_bid, BOB))
    step("bob's stake", lambda: bob.stake_of(bob.address))
    step("withdraw locked stake", lambda: bob.request_withdrawal(ETH))
    step("withdraw request", lambda: bob.request_withdrawal(ETH // 2))
    step("not ready", bob.withdraw_stake)
    step("wrong prover", lambda: carol.submit_proof(1, PROOF, OUTPUTS))
    step("bad proof", lambda: bob.submit_proof(1, [1] * 8, OUTPUTS))
    step("wrong outputs", lambda: bob.submit_proof(1, PROOF, [5, 6]))
    step("slash too early", lambda: dave.slash(1))
    step("second job", lambda: alice.create_job(request))
    step("cancel open", lambda: alice.cancel_job(2))
    step("cancel again", lambda: alice.cancel_job(2))
    step("award cancelled", award(2, offer(2, bob, 1, now + 5000), BOB))
    step("third job", lambda: alice.create_job(request))
    step("award third", award(3, offer(3, bob, ETH // 300, now + 5000), BOB))
    step("fourth job", lambda: alice.create_job(request))
    step("award fourth", award(4, offer(4, bob, ETH // 250, now + 5000), BOB))
    step("accept fourth", lambda: bob.accept_job(4))
    step("prove", lambda: bob.submit_proof(4, PROOF, OUTPUTS))
    step("prove again", lambda: bob.submit_proof(4, PROOF, OUTPUTS))
    step("proved job", lambda: alice.get_job(4))
    advance(10_000)  # past job 1's proof deadline, job 3's accept deadline, the delay
    step("late proof", lambda: bob.submit_proof(1, PROOF, OUTPUTS))
    step("slash", lambda: dave.slash(1))
    step("slash again", lambda: dave.slash(1))
    step("re-opened job", lambda: alice.get_job(1))
    step("cancel lapsed", lambda: alice.cancel_job(3))
    later = alice.timestamp()
    step("carol deposits", lambda: carol.deposit_stake(ETH))
    step("award after slash", award(1, offer(1, carol, ETH // 400, later + 5000), CAROL))
    step("carol accepts", lambda: carol.accept_job(1))
    step("carol proves", lambda: carol.submit_proof(1, PROOF, OUTPUTS))
    step("balance", lambda: alice.balance_of(alice.address))
    step("withdraw", alice.withdraw)
    step("nothing left", alice.withdraw)
    step("bob's record", lambda: alice.prover_stats(bob.address))
    step("carol's record", lambda: alice.prover_stats(carol.address))
    step("bob's balance", lambda: bob.balance_of(bob.address))
    step("stake withdrawn", bob.withdraw_stake)
    step("stake after", lambda: bob.stake_of(bob.address))
    step("key", lambda: alice.verifying_key_of(1) == KEY.key_bytes)
    step("deprecate", lambda: alice.deprecate_model(1))
    step("deprecate again", lambda: alice.deprecate_model(1))
    step("deprecated model", lambda: alice.create_job(request))
    step("counts", lambda: [alice.job_count(), alice.model_count()])
    ceremony(chains, advance, step)
    return log


def ceremony(
    chains: dict[int, Chain], advance: Callable[[int], None], step: Callable[..., Any]
) -> None:
    """A phase-2 ceremony: a race for one predecessor, the window's end, the beacon."""
    alice, bob, carol, dave = chains[ALICE], chains[BOB], chains[CAROL], chains[DAVE]
    k = [bytes([i]) * 32 for i in range(1, 6)]
    h = [bytes([i]) * 64 for i in range(1, 6)]
    step("unnamed", lambda: alice.open_ceremony(b"\xc1" * 32, b"\xd1" * 32, k[0], 60, ""))
    step("name too long", lambda: alice.open_ceremony(b"\xc1" * 32, b"\xd1" * 32, k[0], 60,
                                                      "é" * 32 + "e"))  # fmt: skip
    opened = step("open", lambda: alice.open_ceremony(b"\xc1" * 32, b"\xd1" * 32, k[0], 60,
                                                      "digits-mlp"))  # fmt: skip
    c = opened[0] if opened else 0
    step("bob contributes", lambda: bob.contribute(c, k[0], k[1], h[1]))
    step("carol is stale", lambda: carol.contribute(c, k[0], k[2], h[2]))
    step("carol rebases", lambda: carol.contribute(c, k[1], k[2], h[2]))
    step("short hash", lambda: dave.contribute(c, k[2], k[3], h[3][:32]))
    step("close early", lambda: dave.close_ceremony(c))
    advance(61)
    step("late", lambda: dave.contribute(c, k[2], k[3], h[3]))
    step("close", lambda: dave.close_ceremony(c))
    step("close again", lambda: dave.close_ceremony(c))
    step("finalize early", lambda: alice.finalize_ceremony(c, 2, k[4], SPEC))
    step("another", lambda: bob.open_ceremony(b"\xc2" * 32, b"\xd2" * 32, k[0], 0, "b"))  # a block
    step("beacon block is latest", lambda: alice.finalize_ceremony(c, 2, k[4], SPEC))
    step("and another", lambda: bob.open_ceremony(b"\xc3" * 32, b"\xd3" * 32, k[0], 0, "c"))
    step("not coordinator", lambda: bob.finalize_ceremony(c, 2, k[4], SPEC))
    step("final is latest", lambda: alice.finalize_ceremony(c, 2, k[2], SPEC))
    step("unrecorded", lambda: alice.finalize_ceremony(c, 3, k[4], SPEC))
    finalized = step("finalize", lambda: alice.finalize_ceremony(c, 1, k[4], SPEC))
    step("finalize again", lambda: alice.finalize_ceremony(c, 2, k[4], SPEC))
    step("ceremony", lambda: alice.get_ceremony(c))
    step("finalized model", lambda: alice.get_model(finalized[0] if finalized else 0))
    step("unknown", lambda: alice.get_ceremony(c + 9))
    step("ceremony count", alice.ceremony_count)
    step("contributions", lambda: [vars(x) for x in alice.ceremony_contributions(c)])


def test_fake_chain_matches_the_real_contracts(
    chain: AnvilProcess, w3: Web3, deployment: Deployment
) -> None:
    def advance_anvil(seconds: int) -> None:
        rpc_call(chain.rpc_url, "evm_increaseTime", [seconds])
        mine(chain)

    accounts = (ALICE, BOB, CAROL, DAVE)
    real = {n: Web3Chain(w3, deployment, dev_account(n), confirmations=0) for n in accounts}
    ledger = FakeLedger(
        market_address=deployment.address("JobMarket"),
        withdrawal_delay=deployment.params["withdrawal_delay_s"],
    )
    ledger.proof_checker = groth16_checker(ledger)
    fake = {n: ledger.chain(dev_account(n).address) for n in accounts}
    start = w3.eth.block_number + 1
    burned_before = w3.eth.get_balance(Web3.to_checksum_address(BURN_ADDRESS))
    real_log = scenario(dict(real), advance_anvil)
    fake_log = scenario(dict(fake), fake_miner(ledger))  # as anvil: time moves, a block
    assert real_log == fake_log
    outcomes = dict(fake_log)
    bob, carol = dev_account(BOB).address, dev_account(CAROL).address
    assert outcomes["no accept window"] == (
        "revert",
        "BadWindows",
        {"acceptWindow": 0, "proofWindow": 5},
    )
    assert outcomes["other collateral"] == ("revert", "BidTermsMismatch", {"jobId": 1})
    assert outcomes["carol is stale"] == (
        "revert", "StalePredecessor", {"latestKeySha256": b"\x02" * 32}
    )  # fmt: skip
    for early in ("finalize early", "beacon block is latest"):
        assert outcomes[early] == ("revert", "BeaconUnavailable", {"beaconBlock": "<varies>"})
    assert [name for name, _ in outcomes["finalize"]] == ["ModelRegistered", "CeremonyFinalized"]
    assert outcomes["ceremony"]["contributions"] == 2
    assert outcomes["forged"] == ("revert", "InvalidBidSignature", {})
    assert outcomes["award unstaked"] == [
        (
            "JobAwarded",
            {"jobId": 1, "prover": carol, "fee": ETH // 200, "acceptDeadline": "<varies>"},
        )
    ]
    assert (outcomes["accept window"], outcomes["proof window"]) == (60, 600)
    assert outcomes["accept unstaked"] == (
        "revert",
        "InsufficientFreeStake",
        {"prover": carol, "free": 0, "needed": ETH // 10},
    )
    assert [name for name, _ in outcomes["re-award"]] == ["AwardLapsed", "JobAwarded"]
    assert outcomes["carol's lapse"] == {
        "fulfilled": 0,
        "slashed": 0,
        "lapsed": 1,
        "fees_earned": 0,
    }
    assert [name for name, _ in outcomes["accept"]] == ["JobAccepted", "CollateralLocked"]
    assert outcomes["prove"] == [
        ("ProofAccepted", {"jobId": 4, "prover": bob, "outputs": tuple(OUTPUTS)}),
        ("CollateralReleased", {"prover": bob, "amount": ETH // 10}),
    ]
    assert outcomes["slash"] == [
        ("ProverSlashed", {"jobId": 1, "prover": bob, "collateral": ETH // 10}),
        ("CollateralSlashed", {"prover": bob, "amount": ETH // 10}),
    ]
    reopened = outcomes["re-opened job"]
    assert (reopened["status"], reopened["prover"], reopened["fee"]) == (JobStatus.OPEN, ZERO, 0)
    assert [name for name, _ in outcomes["cancel lapsed"]] == ["AwardLapsed", "JobCancelled"]
    assert outcomes["award after slash"][0][0] == "JobAwarded"  # no lapse: the job was Open
    # alice: her change on jobs 1 and 4, and the whole escrow of jobs 2 and 3; never collateral
    change = (ETH // 100 - ETH // 400) + (ETH // 100 - ETH // 250)
    assert outcomes["balance"] == change + 2 * (ETH // 100)
    assert outcomes["bob's record"] == {
        "fulfilled": 1,
        "slashed": 1,
        "lapsed": 1,
        "fees_earned": ETH // 250,
    }
    assert outcomes["carol's record"] == {
        "fulfilled": 1,
        "slashed": 0,
        "lapsed": 1,
        "fees_earned": ETH // 400,
    }
    assert outcomes["stake after"]["stake"] == ETH - ETH // 2 - ETH // 10
    assert outcomes["key"] is True
    assert outcomes["deprecated model"] == ("revert", "ModelDeprecated", {"modelId": 1})
    assert outcomes["plain model's job"] == ("revert", "ModelNotFromCeremony", {"modelId": 2})
    assert outcomes["counts"] == [4, 2]
    assert (
        w3.eth.get_balance(Web3.to_checksum_address(BURN_ADDRESS)) - burned_before
        == ledger.burned
        == ETH // 10
    )
    real_events = [(e.name, normalise(dict(e.args))) for e in real[1].events_since(start).events]
    fake_events = [(e.name, normalise(dict(e.args))) for e in fake[1].events_since(1).events]
    assert real_events == fake_events
    assert isinstance(fake[1], Chain)
    assert isinstance(real[1], Chain)


def test_the_fakes_bid_digest_is_the_contracts(w3: Web3, deployment: Deployment) -> None:
    real = Web3Chain(w3, deployment, dev_account(BOB), confirmations=0)
    ledger = FakeLedger(market_address=deployment.address("JobMarket"))
    market = bytes.fromhex(deployment.address("JobMarket")[2:])
    for job_id, fee, expiry, window in ((1, 0, 0, 1), (2**255, 2**200, 2**64 - 1, 2**32 - 1)):
        terms = JobTerms(b"\x11" * 20, job_id, FIELD_R - 1, fee, window, 2**32 - window)
        signed = sign_bid(bytes.fromhex(DEV_PRIVATE_KEYS[BOB][2:]), 31337, market, terms,
                          job_id=job_id, fee=fee, expiry=expiry, peer_id=b"\x00\x01x")  # fmt: skip
        onchain = Bid(job_id, real.address.lower(), fee, expiry, "0x" + "11" * 20, job_id,
                      FIELD_R - 1, fee, window, 2**32 - window)  # fmt: skip
        digest = ledger.bid_digest(onchain)
        assert digest == real.bid_digest(onchain) == bid_digest(31337, market, signed, terms)


def fake_chain_is_a_chain(ledger: FakeLedger) -> Chain:
    return FakeChain(ledger, dev_account(0).address)  # mypy checks the interface here


# -- the fake on its own ---------------------------------------------------------------


class Market:
    """A fake ledger with a model, staked bob and carol, and helpers to move jobs along."""

    def __init__(self, collateral: int = ETH // 10) -> None:
        self.ledger = FakeLedger()  # every proof verifies
        self.alice, self.bob, self.carol, self.dave = (
            self.ledger.chain(dev_account(n).address) for n in (ALICE, BOB, CAROL, DAVE)
        )
        self.model_id = register_finalized(self.alice, SPEC, fake_miner(self.ledger))
        self.bob.deposit_stake(ETH)
        self.carol.deposit_stake(ETH)
        self.collateral = collateral

    def create(self, accept_window: int = 60, proof_window: int = 600) -> int:
        request = JobRequest(self.model_id, 5, self.collateral, accept_window, proof_window,
                             ETH // 100)  # fmt: skip
        return self.alice.create_job(request)[0]

    def key(self, prover: FakeChain) -> int:
        return {self.bob.address: BOB, self.carol.address: CAROL}[prover.address]

    def bid(self, job_id: int, prover: FakeChain, fee: int = ETH // 200, **changes: Any) -> Bid:
        """Its prover's bid on the job's terms (or, with ``changes``, on other ones)."""
        terms = self.ledger.terms(job_id)
        signed = sign_bid(bytes.fromhex(DEV_PRIVATE_KEYS[self.key(prover)][2:]),
                          self.ledger.chain_id, bytes.fromhex(self.ledger.market_address[2:]),
                          terms, job_id=job_id, fee=fee, expiry=self.ledger.time + 5000,
                          peer_id=b"\x00\x01x")  # fmt: skip
        return dataclasses.replace(self.ledger.chain_bid(signed), **changes)

    def award(self, job_id: int, prover: FakeChain, fee: int = ETH // 200) -> TxResult:
        bid = self.bid(job_id, prover, fee)
        return self.alice.award_job(bid, sign(bid, self.alice, self.key(prover)))


def names(result: TxResult) -> list[str]:
    return [e.name for e in result.events]


def test_an_award_locks_nothing_and_an_acceptance_locks_the_collateral() -> None:
    m = Market()
    job_id = m.create()
    result = m.award(job_id, m.bob)
    assert names(result) == ["JobAwarded"]
    job = m.alice.get_job(job_id)
    assert (job.status, job.prover, job.fee, job.deadline) == (
        JobStatus.AWARDED,
        m.bob.address,
        ETH // 200,
        m.ledger.time + 60,
    )
    assert result.events[0].args["acceptDeadline"] == job.deadline
    assert m.bob.stake_of(m.bob.address) == StakeInfo(ETH, 0, 0, 0)
    result = m.bob.accept_job(job_id)
    assert names(result) == ["JobAccepted", "CollateralLocked"]
    job = m.alice.get_job(job_id)
    assert (job.status, job.deadline) == (JobStatus.ACCEPTED, m.ledger.time + 600)
    assert result.events[0].args == {
        "jobId": job_id,
        "prover": m.bob.address,
        "proofDeadline": job.deadline,
    }
    assert m.bob.stake_of(m.bob.address) == StakeInfo(ETH, ETH // 10, 0, 0)


def test_a_proof_pays_the_fee_refunds_the_change_and_releases_the_collateral() -> None:
    m = Market()
    job_id = m.create()
    m.award(job_id, m.bob)
    m.bob.accept_job(job_id)
    result = m.bob.submit_proof(job_id, PROOF, [3])
    assert names(result) == ["ProofAccepted", "CollateralReleased"]
    job = m.alice.get_job(job_id)
    assert (job.status, job.deadline, job.prover, job.fee) == (
        JobStatus.FULFILLED,
        0,
        m.bob.address,
        ETH // 200,
    )
    assert m.bob.balance_of(m.bob.address) == ETH // 200
    assert m.alice.balance_of(m.alice.address) == ETH // 100 - ETH // 200
    assert m.bob.stake_of(m.bob.address) == StakeInfo(ETH, 0, 0, 0)
    assert m.alice.prover_stats(m.bob.address) == ProverStats(1, 0, 0, ETH // 200)
    assert names(m.bob.withdraw()) == ["Withdrawn"]
    assert m.bob.balance_of(m.bob.address) == 0


def test_a_slash_burns_the_collateral_and_re_opens_the_job_with_its_escrow() -> None:
    m = Market()
    job_id = m.create()
    m.award(job_id, m.bob)
    m.bob.accept_job(job_id)
    m.ledger.pass_deadline(job_id)
    result = m.dave.slash(job_id)  # anyone may, and earns nothing
    assert names(result) == ["ProverSlashed", "CollateralSlashed"]
    job = m.alice.get_job(job_id)
    assert (job.status, job.deadline, job.prover, job.fee) == (JobStatus.OPEN, 0, ZERO, 0)
    assert m.ledger.burned == ETH // 10
    assert m.bob.stake_of(m.bob.address) == StakeInfo(ETH - ETH // 10, 0, 0, 0)
    assert m.ledger.balances == {}  # nobody gains: not the requester, not the slasher
    assert m.ledger.escrowed() == ETH // 100
    assert m.alice.prover_stats(m.bob.address) == ProverStats(0, 1, 0, 0)
    # The re-opened job is awarded again (no lapse to record) and settles.
    assert names(m.award(job_id, m.carol, ETH // 300)) == ["JobAwarded"]
    m.carol.accept_job(job_id)
    m.carol.submit_proof(job_id, PROOF, [3])
    assert m.alice.balance_of(m.alice.address) == ETH // 100 - ETH // 300
    assert m.alice.prover_stats(m.bob.address) == ProverStats(0, 1, 0, 0)


def test_a_lapsed_award_is_re_awarded_or_cancelled_and_counted_once() -> None:
    m = Market()
    first, second = m.create(), m.create()
    for job_id in (first, second):
        m.award(job_id, m.bob)
    m.ledger.pass_deadline(first)
    result = m.award(first, m.carol)
    assert names(result) == ["AwardLapsed", "JobAwarded"]
    assert result.events[0].args == {"jobId": first, "prover": m.bob.address}
    assert m.alice.get_job(first).prover == m.carol.address
    with pytest.raises(ContractRevert, match="NotAssignedProver"):
        m.bob.accept_job(first)
    result = m.alice.cancel_job(second)
    assert names(result) == ["AwardLapsed", "JobCancelled"]
    assert m.alice.get_job(second).status is JobStatus.CANCELLED
    assert m.alice.balance_of(m.alice.address) == ETH // 100  # the whole escrow
    assert m.alice.prover_stats(m.bob.address) == ProverStats(0, 0, 2, 0)
    assert m.bob.stake_of(m.bob.address).locked == 0  # a lapse costs the prover nothing else


def test_a_lapsed_award_may_go_to_the_same_prover_again() -> None:
    m = Market()
    job_id = m.create()
    m.award(job_id, m.bob)
    m.ledger.pass_deadline(job_id)
    assert names(m.award(job_id, m.bob)) == ["AwardLapsed", "JobAwarded"]
    m.bob.accept_job(job_id)
    assert m.alice.prover_stats(m.bob.address).lapsed == 1


def test_deadlines_belong_to_their_holder_through_their_last_second() -> None:
    m = Market()
    job_id = m.create()
    m.award(job_id, m.bob)
    deadline = m.alice.get_job(job_id).deadline
    m.ledger.advance_to(deadline)
    with pytest.raises(ContractRevert, match="AcceptWindowOpen") as caught:
        m.award(job_id, m.carol)
    assert caught.value.error_args == {"jobId": job_id, "acceptDeadline": deadline}
    with pytest.raises(ContractRevert, match="AcceptWindowOpen"):
        m.alice.cancel_job(job_id)
    m.bob.accept_job(job_id)  # at the accept deadline: still the prover's
    deadline = m.alice.get_job(job_id).deadline
    assert deadline == m.ledger.time + 600
    m.ledger.advance_to(deadline)
    with pytest.raises(ContractRevert, match="ProofDeadlineNotPassed"):
        m.dave.slash(job_id)
    m.bob.submit_proof(job_id, PROOF, [3])  # at the proof deadline: still in time
    # One second later each deadline is the other side's.
    late = m.create()
    m.award(late, m.bob)
    m.ledger.pass_deadline(late)
    with pytest.raises(ContractRevert, match="AcceptDeadlinePassed") as caught:
        m.bob.accept_job(late)
    assert caught.value.error_args["acceptDeadline"] == m.ledger.time - 1
    m.award(late, m.carol)
    m.carol.accept_job(late)
    m.ledger.pass_deadline(late)
    with pytest.raises(ContractRevert, match="ProofDeadlinePassed"):
        m.carol.submit_proof(late, PROOF, [3])
    m.dave.slash(late)


def test_a_bid_is_awardable_through_its_expiry_second() -> None:
    m = Market()
    job_id = m.create()
    bid = m.bid(job_id, m.bob)
    m.ledger.advance_to(bid.expiry + 1)
    with pytest.raises(ContractRevert, match="BidExpired"):
        m.alice.award_job(bid, sign(bid, m.alice, BOB))
    m2 = Market()
    job_id = m2.create()
    bid = m2.bid(job_id, m2.bob)
    m2.ledger.advance_to(bid.expiry)
    m2.alice.award_job(bid, sign(bid, m2.alice, BOB))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requester", "0x" + "22" * 20),
        ("model_id", 2),
        ("input_commitment", 6),
        ("collateral", ETH // 10 - 1),
        ("accept_window", 61),
        ("proof_window", 599),
    ],
)
def test_every_term_of_a_bid_must_be_the_jobs(field: str, value: Any) -> None:
    m = Market()
    job_id = m.create()
    other = m.bid(job_id, m.bob, **{field: value})
    with pytest.raises(ContractRevert, match="BidTermsMismatch"):
        m.alice.award_job(other, sign(other, m.alice, BOB))  # signed, but for other terms
    right = m.bid(job_id, m.bob)
    with pytest.raises(ContractRevert, match="InvalidBidSignature"):
        m.alice.award_job(right, sign(other, m.alice, BOB))  # the signature covers the terms
    m.alice.award_job(right, sign(right, m.alice, BOB))


def test_a_reverted_call_changes_nothing() -> None:
    m = Market()
    job_id = m.create()
    m.award(job_id, m.bob)
    m.ledger.pass_deadline(job_id)

    def state() -> tuple[object, ...]:
        ledger = m.ledger
        return (dict(ledger.jobs), dict(ledger.stats), dict(ledger.stakes), len(ledger.events),
                ledger.block, dict(ledger.balances))  # fmt: skip

    before = state()
    forged = m.bid(job_id, m.carol)
    with pytest.raises(ContractRevert, match="InvalidBidSignature"):  # checked after the lapse
        m.alice.award_job(forged, sign(forged, m.alice, BOB))
    assert state() == before  # the lapse is not recorded by an award that failed
    m.ledger.stakes[m.carol.address] = (0, 0)
    m.award(job_id, m.carol)
    before = state()
    with pytest.raises(ContractRevert, match="InsufficientFreeStake"):
        m.carol.accept_job(job_id)
    assert state() == before
    assert m.alice.prover_stats(m.bob.address).lapsed == 1  # recorded once, by the award


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (JobRequest(1, 5, 0, 0, 1, 1), "BadWindows"),
        (JobRequest(1, 5, 0, 1, 0, 1), "BadWindows"),
        (JobRequest(1, 5, 0, MAX_WINDOW + 1, 1, 1), "BadWindows"),
        (JobRequest(1, 5, 0, 1, 1, 2**96), "AmountTooLarge"),
        (JobRequest(1, 5, 2**96, 1, 1, 1), "AmountTooLarge"),
        (JobRequest(1, FIELD_R, 0, 1, 1, 1), "InputCommitmentOutOfField"),
        (JobRequest(1, 5, 0, 1, 1, 0), "ZeroMaxFee"),
        (JobRequest(2, 5, 0, 1, 1, 1), "UnknownModel"),
    ],
)
def test_create_job_refuses_what_jobmarket_refuses(request_: JobRequest, error: str) -> None:
    m = Market()
    with pytest.raises(ContractRevert, match=error):
        m.alice.create_job(request_)
    edge = JobRequest(1, FIELD_R - 1, 2**96 - 1, MAX_WINDOW, MAX_WINDOW, 2**96 - 1)
    assert m.alice.create_job(edge)[0] == 1


def test_the_ledgers_helpers_name_a_jobs_terms_and_deadlines() -> None:
    m = Market()
    job_id = m.create(accept_window=30, proof_window=90)
    alice = bytes.fromhex(m.alice.address[2:])
    assert m.ledger.terms(job_id) == JobTerms(alice, m.model_id, 5, ETH // 10, 30, 90)
    key = bytes.fromhex(DEV_PRIVATE_KEYS[BOB][2:])
    signed = sign_bid(key, m.ledger.chain_id, bytes.fromhex(m.ledger.market_address[2:]),
                      m.ledger.terms(job_id), job_id=job_id, fee=7, expiry=m.ledger.time + 9,
                      peer_id=b"\x00\x01x")  # fmt: skip
    expected = Bid(job_id, m.bob.address, 7, m.ledger.time + 9, m.alice.address, m.model_id, 5,
                   ETH // 10, 30, 90)  # fmt: skip
    assert m.ledger.chain_bid(signed) == expected
    assert names(m.alice.award(signed)) == ["JobAwarded"]
    with pytest.raises(ValueError, match="has no deadline"):
        m.ledger.pass_deadline(m.create())
    start = m.ledger.time
    m.ledger.pass_deadline(job_id)
    assert m.ledger.time == start + 31
    with pytest.raises(ValueError, match="cannot go back"):
        m.ledger.advance_to(start)


# -- the money invariant, on random walks -----------------------------------------------

ACTIONS = [
    "create", "award_bob", "award_carol", "accept_bob", "accept_carol", "prove_bob",
    "prove_carol", "slash", "cancel", "withdraw_alice", "withdraw_bob", "advance",
]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(1, 3), st.integers(0, 700)),
                max_size=40))  # fmt: skip
def test_the_market_holds_exactly_the_unsettled_escrow_and_the_balances(
    steps: list[tuple[str, int, int]],
) -> None:
    """IJobMarket's invariant, and ProverStaking's: ether in equals ether held plus out."""
    m = Market()
    provers = {"bob": m.bob, "carol": m.carol}
    created = withdrawn = 0
    for action, job_id, seconds in steps:
        verb, _, who = action.partition("_")
        try:
            if verb == "create":
                m.create()
                created += ETH // 100
            elif verb == "award":
                m.award(job_id, provers[who], ETH // (150 + job_id))
            elif verb == "accept":
                provers[who].accept_job(job_id)
            elif verb == "prove":
                provers[who].submit_proof(job_id, PROOF, [3])
            elif verb == "slash":
                m.dave.slash(job_id)
            elif verb == "cancel":
                m.alice.cancel_job(job_id)
            elif verb == "withdraw":
                withdrawn += {"alice": m.alice, **provers}[who].withdraw().events[0].args["amount"]
            else:
                m.ledger.advance(seconds)
        except ContractRevert:
            pass
        assert m.ledger.escrowed() + sum(m.ledger.balances.values()) == created - withdrawn
        for name, prover in provers.items():
            stake, locked = m.ledger.stakes[prover.address]
            held = sum(
                j.collateral
                for j in m.ledger.jobs.values()
                if j.status is JobStatus.ACCEPTED and j.prover == prover.address
            )
            assert 0 <= locked == held <= stake, name
        assert sum(s for s, _ in m.ledger.stakes.values()) + m.ledger.burned == 2 * ETH
        assert m.ledger.balances.get(m.dave.address, 0) == 0  # slashing pays nobody
