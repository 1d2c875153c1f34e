"""Every way the market must refuse a call, each against a real chain.

Deadline boundaries to the second, signatures taken apart and the uint96 caps are in
test_attacks.py; this file covers who may call what in which state, and with what.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocol.r1cs.system import R
from tests.contracts.chain import (
    assert_reverts,
    bid_digest,
    bid_signature,
    bid_tuple,
    now,
    send,
    set_time,
)
from tests.contracts.circuits import Statement
from tests.contracts.deployment import (
    ACCEPT_WINDOW,
    ACCEPTED,
    AWARDED,
    COLLATERAL,
    FEE,
    MAX_FEE,
    PROOF_WINDOW,
    STAKE,
    Deployment,
)

pytestmark = pytest.mark.slow

MAX_WINDOW = 30 * 24 * 3600
PAST_EVERY_DEADLINE = ACCEPT_WINDOW + PROOF_WINDOW + 1  # seconds


def _accepted(chain: Deployment, statement: int = 0) -> int:
    job_id = chain.create_job(3, statement)
    chain.accepted(job_id, chain.bob)
    return job_id


def _submit(chain: Deployment, job_id: int, statement: Statement, sender: str) -> object:
    return chain.submit_call(job_id, statement).transact({"from": sender})


def _in_state(chain: Deployment, state: str) -> int:
    """A job in ``state``: open, awarded, accepted, fulfilled or cancelled."""
    job_id = chain.create_job(3, 0)
    if state == "cancelled":
        send(chain.w3, chain.market.functions.cancelJob(job_id), chain.alice.address)
    if state in ("awarded", "accepted", "fulfilled"):
        chain.award(job_id, chain.bob)
    if state in ("accepted", "fulfilled"):
        chain.accept(job_id, chain.bob)
    if state == "fulfilled":
        chain.submit(job_id, chain.circuits[3].statements[0], chain.bob)
    return job_id


# createJob


def test_create_job_rules(chain: Deployment) -> None:
    m, alice = chain.market, chain.alice.address
    model = chain.models[3]

    def create(
        model_id: int,
        commitment: int,
        accept: int = 600,
        proof: int = 1800,
        value: int = MAX_FEE,
    ) -> Callable[[], object]:
        return lambda: m.functions.createJob(
            model_id, commitment, COLLATERAL, accept, proof
        ).transact({"from": alice, "value": value})

    assert_reverts(chain.registry, "UnknownModel", create(999, 1))
    assert_reverts(chain.registry, "UnknownModel", create(0, 1))
    assert_reverts(m, "InputCommitmentOutOfField", create(model, R))
    assert_reverts(m, "ZeroMaxFee", create(model, 1, value=0))
    for accept, proof in ((0, 1), (1, 0), (MAX_WINDOW + 1, 1), (1, MAX_WINDOW + 1)):
        args = assert_reverts(m, "BadWindows", create(model, 1, accept, proof))
        assert args == accept.to_bytes(32, "big") + proof.to_bytes(32, "big")
    send(chain.w3, chain.registry.functions.deprecateModel(model), chain.deployer.address)
    assert_reverts(m, "ModelDeprecated", create(model, 1))


def test_create_job_takes_the_boundary_values(chain: Deployment) -> None:
    m = chain.market
    call = m.functions.createJob(chain.models[3], R - 1, 0, MAX_WINDOW, MAX_WINDOW)
    send(chain.w3, call, chain.alice.address, 1)
    call = m.functions.createJob(chain.models[3], 0, 0, 1, 1)
    send(chain.w3, call, chain.alice.address, 1)
    job = chain.job(1)
    assert (job["inputCommitment"], job["acceptWindow"], job["proofWindow"]) == (
        R - 1,
        MAX_WINDOW,
        MAX_WINDOW,
    )
    assert (chain.job(2)["acceptWindow"], chain.job(2)["proofWindow"]) == (1, 1)
    assert m.functions.MAX_WINDOW().call() == MAX_WINDOW


# awardJob


def test_only_the_requester_awards(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    bid, sig = chain.bid(job_id, chain.bob)
    for outsider in (chain.bob, chain.dave):
        assert_reverts(
            chain.market,
            "NotRequester",
            lambda o=outsider: chain.market.functions.awardJob(job_id, bid, sig).transact(
                {"from": o.address}
            ),
        )


def test_fee_may_equal_but_not_exceed_the_max_fee(chain: Deployment) -> None:
    m, alice = chain.market, chain.alice.address
    job_id = chain.create_job(3, 0)
    over, over_sig = chain.bid(job_id, chain.bob, fee=MAX_FEE + 1)
    args = assert_reverts(
        m,
        "FeeAboveMax",
        lambda: m.functions.awardJob(job_id, over, over_sig).transact({"from": alice}),
    )
    assert args == (MAX_FEE + 1).to_bytes(32, "big") + MAX_FEE.to_bytes(32, "big")
    chain.award(job_id, chain.bob, MAX_FEE)
    assert chain.job(job_id)["fee"] == MAX_FEE


def test_a_zero_fee_bid_is_awarded(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.accepted(job_id, chain.bob, 0)
    chain.submit(job_id, chain.circuits[3].statements[0], chain.bob)
    assert chain.balance(chain.bob) == 0
    assert chain.balance(chain.alice) == MAX_FEE
    assert chain.stats(chain.bob) == (1, 0, 0, 0)


def test_an_expired_bid_is_refused(chain: Deployment) -> None:
    m, alice = chain.market, chain.alice.address
    job_id = chain.create_job(3, 0)
    expired, expired_sig = chain.bid(job_id, chain.bob, expiry=1)
    args = assert_reverts(
        m,
        "BidExpired",
        lambda: m.functions.awardJob(job_id, expired, expired_sig).transact({"from": alice}),
    )
    assert int.from_bytes(args, "big") == 1


def test_bid_replayed_on_another_job_is_refused(chain: Deployment) -> None:
    first, second = chain.create_job(3, 0), chain.create_job(3, 0)
    bid, signature = chain.bid(first, chain.bob)
    award = chain.market.functions.awardJob
    alice = chain.alice.address
    assert_reverts(
        chain.market,
        "BidForOtherJob",
        lambda: award(second, bid, signature).transact({"from": alice}),
    )
    relabelled = (second, *bid[1:])  # the same terms: only the signature can tell
    assert_reverts(
        chain.market,
        "InvalidBidSignature",
        lambda: award(second, relabelled, signature).transact({"from": alice}),
    )


def test_bid_signed_for_another_chain_or_contract_is_refused(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    bid, _ = chain.bid(job_id, chain.bob)
    alice = chain.alice.address
    for chain_id, market in ((1, chain.market.address), (chain.chain_id, chain.staking.address)):
        signature = bid_signature(chain.bob, market, chain_id, bid)
        assert_reverts(
            chain.market,
            "InvalidBidSignature",
            lambda s=signature: chain.market.functions.awardJob(job_id, bid, s).transact(
                {"from": alice}
            ),
        )


def test_a_zero_prover_with_an_unrecoverable_signature_is_refused(chain: Deployment) -> None:
    # ecrecover answers 0 for garbage; a bid naming prover 0 must not match that.
    job_id = chain.create_job(3, 0)
    bid, _ = chain.bid(job_id, chain.bob)
    zero_prover = (job_id, "0x" + "00" * 20, *bid[2:])
    for signature in (b"\x00" * 65, b"\x00" * 64 + b"\x1b", b"\x01" * 64 + b"\x1c"):
        assert_reverts(
            chain.market,
            "InvalidBidSignature",
            lambda s=signature: chain.market.functions.awardJob(job_id, zero_prover, s).transact(
                {"from": chain.alice.address}
            ),
        )


@pytest.mark.parametrize("state", ["accepted", "fulfilled", "cancelled"])
def test_award_needs_an_open_or_lapsed_job(chain: Deployment, state: str) -> None:
    job_id = _in_state(chain, state)
    set_time(chain.w3, now(chain.w3) + PAST_EVERY_DEADLINE)  # even past every deadline
    bid, sig = chain.bid(job_id, chain.carol)
    assert_reverts(
        chain.market,
        "WrongStatus",
        lambda: chain.market.functions.awardJob(job_id, bid, sig).transact(
            {"from": chain.alice.address}
        ),
    )


def test_an_award_cannot_be_replaced_while_its_accept_window_is_open(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    bid, sig = chain.bid(job_id, chain.carol)
    args = assert_reverts(
        chain.market,
        "AcceptWindowOpen",
        lambda: chain.market.functions.awardJob(job_id, bid, sig).transact(
            {"from": chain.alice.address}
        ),
    )
    assert int.from_bytes(args[32:], "big") == chain.deadline(job_id)
    assert chain.stats(chain.bob) == (0, 0, 0, 0)


def test_an_award_needs_no_stake_but_acceptance_does(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.dave)  # dave has no stake: the award itself locks nothing
    assert chain.job(job_id)["status"] == AWARDED
    args = assert_reverts(
        chain.staking,
        "InsufficientFreeStake",
        lambda: chain.market.functions.acceptJob(job_id).transact({"from": chain.dave.address}),
    )
    assert int.from_bytes(args[64:], "big") == COLLATERAL


# acceptJob


@pytest.mark.parametrize("state", ["open", "accepted", "fulfilled", "cancelled"])
def test_accept_needs_an_awarded_job(chain: Deployment, state: str) -> None:
    job_id = _in_state(chain, state)
    assert_reverts(
        chain.market,
        "WrongStatus",
        lambda: chain.market.functions.acceptJob(job_id).transact({"from": chain.bob.address}),
    )


def test_only_the_assigned_prover_accepts(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    for other in (chain.carol, chain.alice, chain.dave):
        assert_reverts(
            chain.market,
            "NotAssignedProver",
            lambda o=other: chain.market.functions.acceptJob(job_id).transact({"from": o.address}),
        )


def test_accept_after_the_accept_deadline_is_refused(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    set_time(chain.w3, chain.deadline(job_id) + 1)
    assert_reverts(
        chain.market,
        "AcceptDeadlinePassed",
        lambda: chain.market.functions.acceptJob(job_id).transact({"from": chain.bob.address}),
    )


def test_collateral_beyond_free_stake_cannot_be_locked(chain: Deployment) -> None:
    # Bob's stake covers STAKE // COLLATERAL accepted jobs at once; the next must fail.
    for _ in range(STAKE // COLLATERAL):
        chain.accepted(chain.create_job(3, 0), chain.bob)
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    assert_reverts(
        chain.staking,
        "InsufficientFreeStake",
        lambda: chain.market.functions.acceptJob(job_id).transact({"from": chain.bob.address}),
    )
    assert chain.stake_of(chain.bob) == (STAKE, STAKE)


# submitProof


@pytest.mark.parametrize("state", ["open", "awarded", "fulfilled", "cancelled"])
def test_submit_needs_an_accepted_job(chain: Deployment, state: str) -> None:
    job_id = _in_state(chain, state)
    statement = chain.circuits[3].statements[0]
    assert_reverts(
        chain.market, "WrongStatus", lambda: _submit(chain, job_id, statement, chain.bob.address)
    )


def test_only_the_assigned_prover_may_submit(chain: Deployment) -> None:
    job_id = _accepted(chain)
    statement = chain.circuits[3].statements[0]
    for other in (chain.carol, chain.alice, chain.dave):
        assert_reverts(
            chain.market,
            "NotAssignedProver",
            lambda o=other: _submit(chain, job_id, statement, o.address),
        )


def test_assigned_prover_cannot_submit_after_the_deadline(chain: Deployment) -> None:
    job_id = _accepted(chain)
    set_time(chain.w3, chain.deadline(job_id) + 1)
    statement = chain.circuits[3].statements[0]
    assert_reverts(
        chain.market,
        "ProofDeadlinePassed",
        lambda: _submit(chain, job_id, statement, chain.bob.address),
    )


def test_invalid_proof_is_rejected(chain: Deployment) -> None:
    job_id = _accepted(chain)
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
    job_id = _accepted(chain)
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
    job_id = _accepted(chain, 1)
    assert_reverts(
        chain.market,
        "InvalidProof",
        lambda: _submit(chain, job_id, chain.circuits[3].statements[0], chain.bob.address),
    )


def test_double_submit_is_rejected(chain: Deployment) -> None:
    job_id = _accepted(chain)
    statement = chain.circuits[3].statements[0]
    chain.submit(job_id, statement, chain.bob)
    assert_reverts(
        chain.market, "WrongStatus", lambda: _submit(chain, job_id, statement, chain.bob.address)
    )
    assert chain.balance(chain.bob) == FEE


def test_a_gas_starved_verification_reverts_instead_of_paying(chain: Deployment) -> None:
    # With too little gas the pairing precompile fails and the verifier returns false: the
    # transaction must revert (InvalidProof), leaving the job accepted and nobody credited.
    job_id = _accepted(chain)
    statement = chain.circuits[3].statements[0]
    tx = chain.submit_call(job_id, statement).transact({"from": chain.bob.address, "gas": 200_000})
    assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
    assert chain.job(job_id)["status"] == ACCEPTED
    assert chain.balance(chain.bob) == 0
    chain.submit(job_id, statement, chain.bob)


def test_deprecation_lets_running_jobs_finish(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    send(chain.w3, chain.registry.functions.deprecateModel(chain.models[3]), chain.deployer.address)
    chain.accept(job_id, chain.bob)
    chain.submit(job_id, chain.circuits[3].statements[0], chain.bob)
    assert chain.balance(chain.bob) == FEE


# slash


@pytest.mark.parametrize("state", ["open", "awarded", "fulfilled", "cancelled"])
def test_slash_needs_an_accepted_job(chain: Deployment, state: str) -> None:
    job_id = _in_state(chain, state)
    set_time(chain.w3, now(chain.w3) + PAST_EVERY_DEADLINE)
    assert_reverts(
        chain.market,
        "WrongStatus",
        lambda: chain.market.functions.slash(job_id).transact({"from": chain.dave.address}),
    )


def test_slash_before_the_proof_deadline_is_refused(chain: Deployment) -> None:
    job_id = _accepted(chain)
    args = assert_reverts(
        chain.market,
        "ProofDeadlineNotPassed",
        lambda: chain.market.functions.slash(job_id).transact({"from": chain.dave.address}),
    )
    assert int.from_bytes(args[32:], "big") == chain.deadline(job_id)


def test_a_job_is_slashed_only_once(chain: Deployment) -> None:
    job_id = _accepted(chain)
    set_time(chain.w3, chain.deadline(job_id) + 1)
    send(chain.w3, chain.market.functions.slash(job_id), chain.dave.address)
    assert_reverts(
        chain.market,
        "WrongStatus",
        lambda: chain.market.functions.slash(job_id).transact({"from": chain.dave.address}),
    )
    assert chain.stake_of(chain.bob) == (STAKE - COLLATERAL, 0)


# cancelJob and withdraw


def test_only_the_requester_cancels(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    for outsider in (chain.bob, chain.dave):
        assert_reverts(
            chain.market,
            "NotRequester",
            lambda o=outsider: chain.market.functions.cancelJob(job_id).transact(
                {"from": o.address}
            ),
        )


def test_an_award_cannot_be_cancelled_while_its_accept_window_is_open(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    assert_reverts(
        chain.market,
        "AcceptWindowOpen",
        lambda: chain.market.functions.cancelJob(job_id).transact({"from": chain.alice.address}),
    )


@pytest.mark.parametrize("state", ["accepted", "fulfilled", "cancelled"])
def test_cancel_needs_an_open_or_lapsed_job(chain: Deployment, state: str) -> None:
    job_id = _in_state(chain, state)
    set_time(chain.w3, now(chain.w3) + PAST_EVERY_DEADLINE)
    balance = chain.balance(chain.alice)
    assert_reverts(
        chain.market,
        "WrongStatus",
        lambda: chain.market.functions.cancelJob(job_id).transact({"from": chain.alice.address}),
    )
    assert chain.balance(chain.alice) == balance


def test_withdraw_pays_once(chain: Deployment) -> None:
    m = chain.market
    job_id = chain.create_job(3, 0)
    send(chain.w3, m.functions.cancelJob(job_id), chain.alice.address)
    send(chain.w3, m.functions.withdraw(), chain.alice.address)
    assert chain.balance(chain.alice) == 0
    args = assert_reverts(
        m,
        "NothingToWithdraw",
        lambda: m.functions.withdraw().transact({"from": chain.alice.address}),
    )
    assert args[12:] == bytes.fromhex(chain.alice.address[2:])


# unknown jobs, stray ether, the EIP-712 domain


def test_unknown_jobs_are_refused_everywhere(chain: Deployment) -> None:
    m, alice, bob = chain.market, chain.alice.address, chain.bob.address
    job_id = chain.create_job(3, 0)
    bid, sig = chain.bid(job_id, chain.bob)
    unknown = job_id + 1
    statement = chain.circuits[3].statements[0]
    for action in (
        lambda: m.functions.getJob(unknown).call(),
        lambda: m.functions.getJob(0).call(),
        lambda: m.functions.awardJob(unknown, (unknown, *bid[1:]), sig).transact({"from": alice}),
        lambda: m.functions.acceptJob(unknown).transact({"from": bob}),
        lambda: _submit(chain, unknown, statement, bob),
        lambda: m.functions.slash(unknown).transact({"from": bob}),
        lambda: m.functions.cancelJob(unknown).transact({"from": alice}),
    ):
        assert_reverts(m, "UnknownJob", action)


def test_the_market_refuses_stray_ether(chain: Deployment) -> None:
    tx = chain.w3.eth.send_transaction(
        {"from": chain.dave.address, "to": chain.market.address, "value": 1, "gas": 100_000}
    )
    assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
    assert chain.w3.eth.get_balance(chain.market.address) == 0


def test_eip712_domain_names_this_chain_and_market(chain: Deployment) -> None:
    domain = chain.market.functions.eip712Domain().call()
    assert domain == [
        b"\x0f",
        "provernet JobMarket",
        "2",
        chain.chain_id,
        chain.market.address,
        b"\x00" * 32,
        [],
    ]


def test_the_on_chain_bid_digest_matches_eip712(chain: Deployment) -> None:
    job_id = chain.create_job(3, 0)
    bid = bid_tuple(job_id, chain.bob.address, FEE, 12345, chain.terms(job_id))
    digest = chain.market.functions.bidDigest(bid).call()
    assert digest == bid_digest(chain.market.address, chain.chain_id, bid)
    assert digest != bid_digest(chain.market.address, chain.chain_id, bid, version="1")
