"""Every way createJob, awardJob and submitProof must refuse, each against a real chain."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocol.r1cs.system import R
from tests.contracts.chain import assert_reverts, bid_signature, send, set_time
from tests.contracts.circuits import Statement
from tests.contracts.deployment import COLLATERAL, FEE, MAX_FEE, STAKE, Deployment

pytestmark = pytest.mark.slow


def _awarded(chain: Deployment) -> int:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    return job_id


def _submit(chain: Deployment, job_id: int, statement: Statement, sender: str) -> object:
    call = chain.market.functions.submitProof(job_id, list(statement.proof), statement.outputs)
    return call.transact({"from": sender})


def test_only_the_assigned_prover_may_submit_before_the_deadline(chain: Deployment) -> None:
    job_id = _awarded(chain)
    statement = chain.circuits[3].statements[0]
    assert_reverts(
        chain.market,
        "NotAssignedProver",
        lambda: _submit(chain, job_id, statement, chain.carol.address),
    )


def test_assigned_prover_cannot_submit_after_the_deadline(chain: Deployment) -> None:
    job_id = _awarded(chain)
    set_time(chain.w3, int(chain.job(job_id)["proofDeadline"]) + 1)
    statement = chain.circuits[3].statements[0]
    assert_reverts(
        chain.market,
        "ProofDeadlinePassed",
        lambda: _submit(chain, job_id, statement, chain.bob.address),
    )


def test_rescuer_must_be_staked(chain: Deployment) -> None:
    job_id = _awarded(chain)
    set_time(chain.w3, int(chain.job(job_id)["proofDeadline"]) + 1)
    statement = chain.circuits[3].statements[0]
    assert_reverts(
        chain.market, "NotStaked", lambda: _submit(chain, job_id, statement, chain.dave.address)
    )


def test_invalid_proof_is_rejected(chain: Deployment) -> None:
    job_id = _awarded(chain)
    good = chain.circuits[3].statements[0]
    other = chain.circuits[3].statements[1]
    # A valid proof of another statement, offered with this statement's signals.
    forged = Statement(good.public, other.proof)
    assert_reverts(
        chain.market, "InvalidProof", lambda: _submit(chain, job_id, forged, chain.bob.address)
    )
    # A proof word out of the base field is malformed, not a crash.
    malformed = Statement(good.public, (good.proof[0], good.proof[1] + 2**255, *good.proof[2:]))
    assert_reverts(
        chain.market, "InvalidProof", lambda: _submit(chain, job_id, malformed, chain.bob.address)
    )


@pytest.mark.parametrize("index", [0, 1])
def test_tampered_outputs_are_rejected(chain: Deployment, index: int) -> None:
    job_id = _awarded(chain)
    good = chain.circuits[3].statements[0]
    outputs = good.outputs
    for tampered_value in (outputs[index] + 1, outputs[index] + R):
        tampered = list(good.public)
        tampered[1 + index] = tampered_value
        bad = Statement(tuple(tampered), good.proof)
        assert_reverts(
            chain.market,
            "InvalidProof",
            lambda bad=bad: _submit(chain, job_id, bad, chain.bob.address),
        )
    short = Statement(good.public[:-1], good.proof)
    assert_reverts(
        chain.market, "InvalidProof", lambda: _submit(chain, job_id, short, chain.bob.address)
    )
    chain.submit(job_id, good, chain.bob)  # the untampered statement still settles


def test_proof_for_another_input_commitment_is_rejected(chain: Deployment) -> None:
    # The job commits to statement 1's input; a genuine proof for statement 0 must not pay.
    job_id = chain.create_job(3, 1)
    chain.award(job_id, chain.bob)
    assert_reverts(
        chain.market,
        "InvalidProof",
        lambda: _submit(chain, job_id, chain.circuits[3].statements[0], chain.bob.address),
    )


def test_double_submit_is_rejected(chain: Deployment) -> None:
    job_id = _awarded(chain)
    statement = chain.circuits[3].statements[0]
    chain.submit(job_id, statement, chain.bob)
    assert_reverts(
        chain.market, "WrongStatus", lambda: _submit(chain, job_id, statement, chain.bob.address)
    )


def test_bid_replayed_on_another_job_is_rejected(chain: Deployment) -> None:
    first, second = chain.create_job(3, 0), chain.create_job(3, 1)
    bid, signature = chain.bid(first, chain.bob)
    award = chain.market.functions.awardJob
    alice = chain.alice.address
    assert_reverts(
        chain.market,
        "BidForOtherJob",
        lambda: award(second, bid, signature).transact({"from": alice}),
    )
    relabelled = (second, *bid[1:])
    assert_reverts(
        chain.market,
        "InvalidBidSignature",
        lambda: award(second, relabelled, signature).transact({"from": alice}),
    )


def test_bid_signed_for_another_chain_or_contract_is_rejected(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    bid, _ = chain.bid(job_id, chain.bob)
    _, _, fee, expiry = bid
    alice = chain.alice.address
    for chain_id, market in ((1, chain.market.address), (chain.chain_id, chain.staking.address)):
        signature = bid_signature(chain.bob, market, chain_id, job_id, fee, expiry)
        assert_reverts(
            chain.market,
            "InvalidBidSignature",
            lambda s=signature: chain.market.functions.awardJob(job_id, bid, s).transact(
                {"from": alice}
            ),
        )


def test_bid_signed_by_someone_else_or_malformed_is_rejected(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    bid, _ = chain.bid(job_id, chain.bob)
    _, bob, fee, expiry = bid
    carol_signed = bid_signature(
        chain.carol, chain.market.address, chain.chain_id, job_id, fee, expiry, prover=bob
    )
    zero_prover = (job_id, "0x" + "00" * 20, *bid[2:])
    award = chain.market.functions.awardJob
    for b, sig in ((bid, carol_signed), (bid, b"\x00" * 65), (zero_prover, b"\x00" * 65)):
        assert_reverts(
            chain.market,
            "InvalidBidSignature",
            lambda b=b, sig=sig: award(job_id, b, sig).transact({"from": chain.alice.address}),
        )


def test_award_rules(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    m, alice = chain.market, chain.alice.address
    bid, sig = chain.bid(job_id, chain.bob)
    assert_reverts(
        m,
        "NotRequester",
        lambda: m.functions.awardJob(job_id, bid, sig).transact({"from": chain.bob.address}),
    )
    over, over_sig = chain.bid(job_id, chain.bob, fee=MAX_FEE + 1)
    assert_reverts(
        m,
        "FeeAboveMax",
        lambda: m.functions.awardJob(job_id, over, over_sig).transact({"from": alice}),
    )
    expired, expired_sig = chain.bid(job_id, chain.bob, expiry=1)
    assert_reverts(
        m,
        "BidExpired",
        lambda: m.functions.awardJob(job_id, expired, expired_sig).transact({"from": alice}),
    )
    poor, poor_sig = chain.bid(job_id, chain.dave)
    assert_reverts(
        chain.staking,
        "InsufficientFreeStake",
        lambda: m.functions.awardJob(job_id, poor, poor_sig).transact({"from": alice}),
    )
    set_time(chain.w3, int(chain.job(job_id)["bidDeadline"]) + 1)
    late, late_sig = chain.bid(job_id, chain.bob)
    assert_reverts(
        m,
        "BidDeadlinePassed",
        lambda: m.functions.awardJob(job_id, late, late_sig).transact({"from": alice}),
    )


def test_collateral_beyond_free_stake_cannot_be_locked(chain: Deployment) -> None:
    # Bob's stake covers STAKE // COLLATERAL jobs at once; the next award must fail.
    for _ in range(STAKE // COLLATERAL):
        chain.award(chain.create_job(3, 0), chain.bob)
    job_id = chain.create_job(3, 0)
    bid, sig = chain.bid(job_id, chain.bob)
    assert_reverts(
        chain.staking,
        "InsufficientFreeStake",
        lambda: chain.market.functions.awardJob(job_id, bid, sig).transact(
            {"from": chain.alice.address}
        ),
    )
    stake, locked = chain.staking.functions.stakeOf(chain.bob.address).call()
    assert locked == stake == STAKE


def test_create_job_rules(chain: Deployment) -> None:
    m, alice = chain.market, chain.alice.address
    model = chain.models[3]
    t = int(chain.w3.eth.get_block("latest")["timestamp"]) + 100

    def create(
        model_id: int, commitment: int, bid: int, proof: int, value: int = MAX_FEE
    ) -> Callable[[], object]:
        return lambda: m.functions.createJob(model_id, commitment, COLLATERAL, bid, proof).transact(
            {"from": alice, "value": value}
        )

    assert_reverts(chain.registry, "UnknownModel", create(999, 1, t, t + 1))
    assert_reverts(m, "InputCommitmentOutOfField", create(model, R, t, t + 1))
    assert_reverts(m, "ZeroMaxFee", create(model, 1, t, t + 1, value=0))
    assert_reverts(m, "BadDeadlines", create(model, 1, t, t))
    assert_reverts(m, "BadDeadlines", create(model, 1, t - 1000, t + 1))
    assert_reverts(m, "BadDeadlines", create(model, 1, t, 2**40))
    send(chain.w3, chain.registry.functions.deprecateModel(model), chain.deployer.address)
    assert_reverts(m, "ModelDeprecated", create(model, 1, t, t + 1))


def test_deprecation_lets_running_jobs_finish(chain: Deployment) -> None:
    job_id = _awarded(chain)
    send(chain.w3, chain.registry.functions.deprecateModel(chain.models[3]), chain.deployer.address)
    chain.submit(job_id, chain.circuits[3].statements[0], chain.bob)
    assert chain.market.functions.balanceOf(chain.bob.address).call() == FEE


def test_unknown_job_and_stray_ether(chain: Deployment) -> None:
    m = chain.market
    assert_reverts(m, "UnknownJob", lambda: m.functions.getJob(12345).call())
    assert_reverts(
        m,
        "UnexpectedEther",
        lambda: chain.w3.eth.send_transaction(
            {"from": chain.dave.address, "to": m.address, "value": 1}
        ),
    )


def test_a_gas_starved_verification_reverts_instead_of_paying(chain: Deployment) -> None:
    # With too little gas the pairing precompile fails and the verifier returns false: the
    # transaction must revert (InvalidProof), leaving the job awarded and nobody credited.
    job_id = _awarded(chain)
    statement = chain.circuits[3].statements[0]
    call = chain.market.functions.submitProof(job_id, list(statement.proof), statement.outputs)
    tx = call.transact({"from": chain.bob.address, "gas": 200_000})
    assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
    assert chain.job(job_id)["status"] == 2  # still Awarded
    assert chain.market.functions.balanceOf(chain.bob.address).call() == 0
    chain.submit(job_id, statement, chain.bob)


def test_eip712_domain_names_this_chain_and_market(chain: Deployment) -> None:
    domain = chain.market.functions.eip712Domain().call()
    assert domain == [
        b"\x0f",
        "provernet JobMarket",
        "1",
        chain.chain_id,
        chain.market.address,
        b"\x00" * 32,
        [],
    ]
