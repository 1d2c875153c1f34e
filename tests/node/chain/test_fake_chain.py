"""One market scenario on the real contracts and on the fake: the fake must not drift."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_account import Account
from web3 import Web3

from node.anvil import DEV_PRIVATE_KEYS, AnvilProcess, rpc_call
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.chain.errors import ContractRevert
from node.chain.interface import Chain
from node.chain.types import Bid, JobRequest, ModelSpec, ProverStats, StakeInfo, TxResult
from node.keys import dev_account

from .conftest import mine
from .fake_chain import FakeChain, FakeLedger

ALICE, BOB, CAROL = 1, 2, 3  # dev account numbers: requester, prover, unstaked prover
ETH = 10**18
TIME_FIELDS = {"bidDeadline", "proofDeadline", "availableAt", "slashableAfter", "expiry"}
KEY_FIELDS = {"verifyingKey", "verifying_key"}
Transcript = list[tuple[str, Any]]


def normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Drop what legitimately differs: absolute times and the key contract's address."""
    out = dict(values)
    for name in out.keys() & (TIME_FIELDS | KEY_FIELDS | {"bid_deadline", "proof_deadline"}):
        out[name] = "<varies>"
    return out


def sign(bid: Bid, chain: Chain, account: int) -> bytes:
    digest = chain.bid_digest(bid)
    return bytes(Account.unsafe_sign_hash(digest, DEV_PRIVATE_KEYS[account]).signature)


def scenario(chains: dict[int, Chain], advance: Callable[[int], None]) -> Transcript:
    """Drive a whole job lifecycle and record every observable outcome."""
    alice, bob, carol = chains[ALICE], chains[BOB], chains[CAROL]
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

    key = bytes(448 + 64 * 3)
    spec = ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 2, 1234, key)
    step("register", lambda: alice.register_model(spec))
    step(
        "bad key",
        lambda: alice.register_model(
            ModelSpec(b"\x04" * 32, b"\x04" * 32, b"\x04" * 32, 2, 1, key[:-1])
        ),
    )
    step("not owner", lambda: bob.deprecate_model(1))
    step("model", lambda: alice.get_model(1))
    step("deposit", lambda: bob.deposit_stake(ETH))
    now = alice.timestamp()
    request = JobRequest(1, 777, ETH // 10, now + 1000, now + 2000, ETH // 100)
    step("bad deadlines", lambda: alice.create_job(JobRequest(1, 777, 0, now + 5, now + 5, 1)))
    step("create", lambda: alice.create_job(request))
    step("job", lambda: alice.get_job(1))
    carol_bid = Bid(1, carol.address, ETH // 200, now + 500)
    step("unstaked", lambda: alice.award_job(carol_bid, sign(carol_bid, carol, CAROL)))
    bid = Bid(1, bob.address, ETH // 200, now + 500)
    step("forged", lambda: alice.award_job(bid, sign(bid, carol, CAROL)))
    step("too dear", lambda: alice.award_job(Bid(1, bob.address, ETH, now + 500), b"\x00" * 65))
    step("award", lambda: alice.award_job(bid, sign(bid, bob, BOB)))
    step("stake", lambda: bob.stake_of(bob.address))
    step("wrong prover", lambda: carol.submit_proof(1, [1] * 8, [5]))
    step("bad proof", lambda: bob.submit_proof(1, [1] * 8, [5]))
    step("too early", lambda: carol.slash(1))
    step("withdraw request", lambda: bob.request_withdrawal(ETH // 2))
    step("not ready", bob.withdraw_stake)
    step("second job", lambda: alice.create_job(request))
    step("cancel early", lambda: alice.cancel_job(2))
    advance(10_000)  # past the proof deadline and the rescue window
    step("slash", lambda: carol.slash(1))
    step("cancel", lambda: alice.cancel_job(2))
    step("balance", lambda: alice.balance_of(alice.address))
    step("withdraw", alice.withdraw)
    step("nothing left", alice.withdraw)
    step("bob's record", lambda: alice.prover_stats(bob.address))
    step("stake withdrawn", bob.withdraw_stake)
    step("stake after", lambda: bob.stake_of(bob.address))
    step("key", lambda: alice.verifying_key_of(1) == key)
    step("deprecate", lambda: alice.deprecate_model(1))
    step("deprecate again", lambda: alice.deprecate_model(1))
    step("deprecated model", lambda: alice.create_job(request))
    step("counts", lambda: (alice.job_count(), alice.model_count()))
    return log


def test_fake_chain_matches_the_real_contracts(
    chain: AnvilProcess, w3: Web3, deployment: Deployment
) -> None:
    def advance_anvil(seconds: int) -> None:
        rpc_call(chain.rpc_url, "evm_increaseTime", [seconds])
        mine(chain)

    real = {n: Web3Chain(w3, deployment, dev_account(n), confirmations=0) for n in (1, 2, 3)}
    ledger = FakeLedger(
        market_address=deployment.address("JobMarket"),
        withdrawal_delay=deployment.params["withdrawal_delay_s"],
        rescue_window=deployment.params["rescue_window_s"],
        proof_checker=lambda job, proof, outputs: False,  # no real proof in this scenario
    )
    fake = {n: ledger.chain(dev_account(n).address) for n in (1, 2, 3)}
    start = w3.eth.block_number + 1
    real_log = scenario(dict(real), advance_anvil)
    fake_log = scenario(dict(fake), ledger.advance)
    assert real_log == fake_log
    outcomes = dict(fake_log)
    assert [name for name, _ in outcomes["slash"]] == ["ProverSlashed", "CollateralSlashed"]
    # job 1: escrow and bob's collateral; job 2: its escrow, refunded on cancel
    assert outcomes["balance"] == ETH // 100 + ETH // 10 + ETH // 100
    assert outcomes["forged"] == ("revert", "InvalidBidSignature", {})
    assert outcomes["cancel"] == [("JobCancelled", {"jobId": 2})]
    assert outcomes["key"] is True
    assert outcomes["bob's record"] == {"fulfilled": 0, "slashed": 1, "fees_earned": 0}
    assert outcomes["deprecated model"] == ("revert", "ModelDeprecated", {"modelId": 1})
    real_events = [(e.name, normalise(dict(e.args))) for e in real[1].events_since(start).events]
    fake_events = [(e.name, normalise(dict(e.args))) for e in fake[1].events_since(1).events]
    assert real_events == fake_events
    assert isinstance(fake[1], Chain)
    assert isinstance(real[1], Chain)


def fake_chain_is_a_chain(ledger: FakeLedger) -> Chain:
    return FakeChain(ledger, dev_account(0).address)  # mypy checks the interface here


def test_fake_pays_on_proof_and_splits_collateral_on_rescue() -> None:
    ledger = FakeLedger()  # every proof verifies
    alice, bob, carol = (ledger.chain(dev_account(n).address) for n in (ALICE, BOB, CAROL))
    model_id, _ = alice.register_model(
        ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 1, 9, bytes(576))
    )
    bob.deposit_stake(ETH)
    carol.deposit_stake(ETH)
    now = ledger.time
    for job_id in (1, 2):
        alice.create_job(JobRequest(model_id, 5, ETH // 10, now + 100, now + 200, ETH // 100))
        bid = Bid(job_id, bob.address, ETH // 200, now + 50)
        alice.award_job(bid, sign(bid, bob, BOB))
    bob.submit_proof(1, [0] * 8, [3])
    assert alice.get_job(1).status.name == "FULFILLED"
    ledger.advance(300)  # job 2: past its proof deadline, inside the rescue window
    rescue = carol.submit_proof(2, [0] * 8, [3])
    assert [e.name for e in rescue.events] == [
        "ProofAccepted",
        "ProverSlashed",
        "CollateralSlashed",
    ]
    assert bob.balance_of(bob.address) == ETH // 200
    assert carol.balance_of(carol.address) == ETH // 200 + ETH // 20
    assert alice.balance_of(alice.address) == 2 * (ETH // 100 - ETH // 200) + ETH // 20
    assert bob.stake_of(bob.address) == StakeInfo(ETH - ETH // 10, 0, 0, 0)
    assert alice.prover_stats(bob.address) == ProverStats(1, 1, ETH // 200)  # JobMarket's
    assert alice.prover_stats(carol.address) == ProverStats(1, 0, ETH // 200)  # counters
