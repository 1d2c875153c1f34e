"""Attacks on settlement v2, each written as a ledger.

Every test names its attacker and its victim, opens a Ledger (every involved account's
ether, market balance, stake, locked collateral and pending withdrawal, and the ether of
the market, the staking contract and the burn address) before the attack, runs the attack
as real mined transactions, and asserts the exact change of every holding: each account's
ether net of the gas its receipts show it paid, everything else to the wei. Transactions
that must land at a given second are mined at exactly that timestamp with a fixed gas
limit; a reverted one is replayed by debug_traceTransaction to read its custom error.

Cast: alice requests proofs, bob and carol are staked provers, dave is an outsider (in the
self-rescue attack, alice's second account).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_abi import decode
from web3 import Web3
from web3.contract import Contract

from tests.contracts.chain import (
    TX_GAS,
    Signer,
    assert_mined_reverts,
    bid_digest,
    bid_signature,
    bid_tuple,
    calls_to,
    deploy,
    error_selector,
    mapping_slot,
    mined_revert_data,
    next_tx_at,
    now,
    rpc,
    send,
    set_balance,
    set_storage_at,
    set_time,
    storage_at,
    trace_call,
    trace_transaction,
    transact,
    transact_at,
)
from tests.contracts.deployment import (
    ACCEPT_WINDOW,
    ACCEPTED,
    AWARDED,
    BURN_ADDRESS,
    CANCELLED,
    COLLATERAL,
    FEE,
    MAX_FEE,
    OPEN,
    PROOF_WINDOW,
    STAKE,
    WITHDRAWAL_DELAY,
    Deployment,
    vk_bytes,
)
from tests.contracts.ledger import Ledger

pytestmark = pytest.mark.slow

U56, U64, U96 = 2**56 - 1, 2**64 - 1, 2**96 - 1
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_ORDER = SECP256K1_N // 2
ECRECOVER = "0x0000000000000000000000000000000000000001"
# JobMarket's storage (solc layout, declaration order; immutables and the transient
# `_entered` take no storage slot): _jobCount, _jobs, _accounts, _penalties.
ACCOUNTS_SLOT, PENALTIES_SLOT = 2, 3


def _withdraw(chain: Deployment, *accounts: Signer) -> None:
    for account in accounts:
        send(chain.w3, chain.market.functions.withdraw(), account.address)


def _slash(chain: Deployment, job_id: int, caller: Signer) -> None:
    set_time(chain.w3, chain.deadline(job_id) + 1)
    send(chain.w3, chain.market.functions.slash(job_id), caller.address)


def _statement(chain: Deployment) -> Any:
    return chain.circuits[3].statements[0]


# Withheld input: the requester awards and never delivers the input.


@pytest.mark.parametrize("ending", ["cancel", "reaward"])
def test_withheld_input_costs_the_awarded_prover_nothing(chain: Deployment, ending: str) -> None:
    """Attacker alice awards bob's bid and never sends him the input; victim bob, who never
    accepts. After the accept deadline alice cancels, or re-awards to carol."""
    m, w3 = chain.market, chain.w3
    ledger = Ledger(chain)
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    deadline = chain.deadline(job_id)
    for t in (deadline, deadline + 1):  # an award puts nothing of bob's at stake
        slash = transact_at(w3, t, m.functions.slash(job_id), chain.dave.address)
        assert_mined_reverts(m, "WrongStatus", slash)

    if ending == "cancel":
        send(w3, m.functions.cancelJob(job_id), chain.alice.address)
        _withdraw(chain, chain.alice)
        ledger.assert_changes()  # alice got back exactly her escrow; nobody else moved
        assert chain.job(job_id)["status"] == CANCELLED
    else:
        chain.accepted(job_id, chain.carol)
        chain.submit(job_id, _statement(chain), chain.carol)
        _withdraw(chain, chain.alice, chain.carol)
        ledger.assert_changes(eth={"alice": -FEE, "carol": FEE})
    after = transact(w3, m.functions.slash(job_id), chain.dave.address)
    assert_mined_reverts(m, "WrongStatus", after)
    assert ledger.spent("bob") == 0  # bob never had to send a transaction
    assert chain.stats(chain.bob) == (0, 0, 1, 0)


# Self-rescue: the requester's own second account tries to take over the job.


def test_the_requesters_second_account_never_proves_for_the_assigned_prover(
    chain: Deployment,
) -> None:
    """Attacker alice with her second account dave (staked 1 wei; alice holds the input, so
    dave has a valid proof); victim bob. dave's proof is refused in every phase of bob's jobs:
    Awarded inside and past the accept window, Accepted before, at and past the deadline."""
    m, w3, dave = chain.market, chain.w3, chain.dave.address
    send(w3, chain.staking.functions.deposit(), dave, 1)
    ledger = Ledger(chain)
    lapsing, accepted = chain.create_job(3, 0), chain.create_job(3, 0)
    chain.award(lapsing, chain.bob)
    chain.award(accepted, chain.bob)
    accept_deadline = chain.deadline(lapsing)
    t = now(w3)

    def dave_proves(job_id: int, at: int) -> Any:
        return transact_at(w3, at, chain.submit_call(job_id, _statement(chain)), dave)

    assert_mined_reverts(m, "WrongStatus", dave_proves(lapsing, t + 1))
    assert_mined_reverts(m, "WrongStatus", dave_proves(accepted, t + 2))
    next_tx_at(w3, t + 3)
    chain.accept(accepted, chain.bob)
    proof_deadline = chain.deadline(accepted)
    assert_mined_reverts(m, "NotAssignedProver", dave_proves(accepted, t + 4))
    assert_mined_reverts(m, "WrongStatus", dave_proves(lapsing, accept_deadline))
    assert_mined_reverts(m, "WrongStatus", dave_proves(lapsing, accept_deadline + 1))
    assert_mined_reverts(m, "NotAssignedProver", dave_proves(accepted, proof_deadline))
    assert_mined_reverts(m, "NotAssignedProver", dave_proves(accepted, proof_deadline + 1))
    assert chain.job(accepted)["status"] == ACCEPTED
    assert chain.job(lapsing)["status"] == AWARDED
    ledger.assert_changes(
        eth={"alice": -2 * MAX_FEE, "market": 2 * MAX_FEE}, locked={"bob": COLLATERAL}
    )
    assert chain.stats(chain.dave) == (0, 0, 0, 0)


def test_a_requester_gains_nothing_from_its_provers_failure(chain: Deployment) -> None:
    """Attacker alice with her second account dave (staked 1 wei); victim bob, who accepts and
    genuinely fails to prove. dave slashes him, alice re-awards to dave, dave proves and both
    cash out: the coalition ends exactly its gas down, bob's collateral is burned."""
    w3, st = chain.w3, chain.staking
    send(w3, st.functions.deposit(), chain.dave.address, 1)
    ledger = Ledger(chain)
    job_id = chain.create_job(3, 0)
    chain.accepted(job_id, chain.bob)
    _slash(chain, job_id, chain.dave)
    assert chain.balance(chain.dave) == 0  # the caller of slash earns nothing

    send(w3, st.functions.deposit(), chain.dave.address, COLLATERAL - 1)  # dave can now accept
    chain.accepted(job_id, chain.dave)
    chain.submit(job_id, _statement(chain), chain.dave)
    _withdraw(chain, chain.alice, chain.dave)
    send(w3, st.functions.requestWithdrawal(COLLATERAL - 1), chain.dave.address)
    set_time(w3, now(w3) + WITHDRAWAL_DELAY)
    send(w3, st.functions.withdraw(), chain.dave.address)

    ledger.assert_changes(
        eth={
            "alice": -FEE,
            "dave": FEE,  # paid out of alice's own escrow
            "staking": -COLLATERAL,
            "burn": COLLATERAL,
        },
        stake={"bob": -COLLATERAL},
    )
    coalition = {"alice": chain.alice, "dave": chain.dave}
    ether = sum(w3.eth.get_balance(a.address) - ledger.before[n].eth for n, a in coalition.items())
    assert ether == -sum(ledger.spent(n) for n in coalition)  # exactly its gas, nothing else
    assert chain.stats(chain.bob) == (0, 1, 0, 0)
    assert chain.stats(chain.dave) == (1, 0, 0, FEE)


# Copied proofs: another account submits the prover's own calldata.


def _fees(w3: Web3, factor: int) -> dict[str, int]:
    base = int(w3.eth.get_block("latest")["baseFeePerGas"])
    tip = 10**9 * factor
    return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip}


def _copy(w3: Web3, tx_hash: bytes, sender: Signer, fees: dict[str, int]) -> bytes:
    """Send ``sender``'s copy of a pending transaction's calldata to the same contract."""
    pending = w3.eth.get_transaction(tx_hash)
    assert pending["blockNumber"] is None  # still in the mempool
    tx = {"from": sender.address, "to": pending["to"], "data": pending["input"], "gas": TX_GAS}
    return w3.eth.send_transaction({**tx, **fees})  # type: ignore[typeddict-item]


def _mine_pending(w3: Web3, send_all: Callable[[], list[bytes]]) -> list[Any]:
    """Queue the transactions ``send_all`` sends with automine off, mine them in one block."""
    rpc(w3, "evm_setAutomine", [False])
    try:
        hashes = send_all()
        rpc(w3, "evm_mine", [])
    finally:
        rpc(w3, "evm_setAutomine", [True])
    receipts = [w3.eth.wait_for_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    return receipts


def test_a_copied_proof_front_running_the_prover_is_refused(chain: Deployment) -> None:
    """Attacker dave copies bob's pending submitProof calldata and outbids its gas price so
    that his copy is mined first in the same block; victim bob."""
    m, w3 = chain.market, chain.w3
    job_id = chain.create_job(3, 0)
    chain.accepted(job_id, chain.bob)
    ledger = Ledger(chain)

    def race() -> list[bytes]:
        bob_tx = chain.submit_call(job_id, _statement(chain)).transact(
            {"from": chain.bob.address, "gas": TX_GAS, **_fees(w3, 1)}
        )
        return [bob_tx, _copy(w3, bob_tx, chain.dave, _fees(w3, 5))]

    bob_receipt, dave_receipt = _mine_pending(w3, race)
    assert dave_receipt["transactionIndex"] < bob_receipt["transactionIndex"]  # dave went first
    assert_mined_reverts(m, "NotAssignedProver", dave_receipt)
    assert bob_receipt["status"] == 1
    ledger.assert_changes(market={"bob": FEE, "alice": MAX_FEE - FEE}, locked={"bob": -COLLATERAL})
    assert chain.stats(chain.bob) == (1, 0, 0, FEE)


def test_a_late_proof_and_its_copy_are_refused_and_anyone_slashes(chain: Deployment) -> None:
    """Attacker dave copies bob's late proof in the block after bob's deadline; victim alice,
    who must not pay for a late proof; bob is slashed by carol."""
    m, w3 = chain.market, chain.w3
    job_id = chain.create_job(3, 0)
    chain.accepted(job_id, chain.bob)
    deadline = chain.deadline(job_id)
    ledger = Ledger(chain)

    def late() -> list[bytes]:
        next_tx_at(w3, deadline + 1)
        bob_tx = chain.submit_call(job_id, _statement(chain)).transact(
            {"from": chain.bob.address, "gas": TX_GAS, **_fees(w3, 1)}
        )
        return [bob_tx, _copy(w3, bob_tx, chain.dave, _fees(w3, 5))]

    bob_receipt, dave_receipt = _mine_pending(w3, late)
    assert w3.eth.get_block(bob_receipt["blockNumber"])["timestamp"] == deadline + 1
    assert_mined_reverts(m, "ProofDeadlinePassed", bob_receipt)
    assert_mined_reverts(m, "NotAssignedProver", dave_receipt)
    send(w3, m.functions.slash(job_id), chain.carol.address)
    ledger.assert_changes(
        eth={"staking": -COLLATERAL, "burn": COLLATERAL},
        stake={"bob": -COLLATERAL},
        locked={"bob": -COLLATERAL},
    )
    assert chain.job(job_id)["status"] == OPEN


# Deadlines to the second: a deadline belongs to its holder, the next second to the other side.


def _awarded(chain: Deployment) -> tuple[int, int]:
    job_id = chain.create_job(3, 0)
    chain.award(job_id, chain.bob)
    return job_id, chain.deadline(job_id)


def _accepted(chain: Deployment) -> tuple[int, int]:
    job_id = chain.create_job(3, 0)
    chain.accepted(job_id, chain.bob)
    return job_id, chain.deadline(job_id)


@pytest.mark.parametrize("offset", [0, 1])
def test_accept_at_the_accept_deadline(chain: Deployment, offset: int) -> None:
    """bob accepts at his accept deadline (his second) or one second later (alice's)."""
    job_id, deadline = _awarded(chain)
    ledger = Ledger(chain)
    receipt = transact_at(
        chain.w3, deadline + offset, chain.market.functions.acceptJob(job_id), chain.bob.address
    )
    if offset == 0:
        assert receipt["status"] == 1
        assert chain.deadline(job_id) == deadline + PROOF_WINDOW
        ledger.assert_changes(locked={"bob": COLLATERAL})
    else:
        assert_mined_reverts(chain.market, "AcceptDeadlinePassed", receipt)
        ledger.assert_changes()


@pytest.mark.parametrize("offset", [0, 1])
def test_submit_at_the_proof_deadline(chain: Deployment, offset: int) -> None:
    """bob proves at his proof deadline (his second) or one second later (the slasher's)."""
    job_id, deadline = _accepted(chain)
    ledger = Ledger(chain)
    call = chain.submit_call(job_id, _statement(chain))
    receipt = transact_at(chain.w3, deadline + offset, call, chain.bob.address)
    if offset == 0:
        assert receipt["status"] == 1
        ledger.assert_changes(
            market={"bob": FEE, "alice": MAX_FEE - FEE}, locked={"bob": -COLLATERAL}
        )
    else:
        assert_mined_reverts(chain.market, "ProofDeadlinePassed", receipt)
        ledger.assert_changes()


@pytest.mark.parametrize("offset", [0, 1])
def test_slash_at_the_proof_deadline(chain: Deployment, offset: int) -> None:
    """dave slashes bob at bob's proof deadline (still bob's second) or one second later."""
    job_id, deadline = _accepted(chain)
    ledger = Ledger(chain)
    call = chain.market.functions.slash(job_id)
    receipt = transact_at(chain.w3, deadline + offset, call, chain.dave.address)
    if offset == 0:
        assert_mined_reverts(chain.market, "ProofDeadlineNotPassed", receipt)
        ledger.assert_changes()
    else:
        assert receipt["status"] == 1
        ledger.assert_changes(
            eth={"staking": -COLLATERAL, "burn": COLLATERAL},
            stake={"bob": -COLLATERAL},
            locked={"bob": -COLLATERAL},
        )


@pytest.mark.parametrize("offset", [0, 1])
def test_reaward_at_the_accept_deadline(chain: Deployment, offset: int) -> None:
    """alice re-awards bob's job to carol at bob's accept deadline or one second later."""
    job_id, deadline = _awarded(chain)
    ledger = Ledger(chain)
    call = chain.award_call(job_id, chain.carol)
    receipt = transact_at(chain.w3, deadline + offset, call, chain.alice.address)
    if offset == 0:
        assert_mined_reverts(chain.market, "AcceptWindowOpen", receipt)
        assert chain.job(job_id)["prover"] == chain.bob.address
        assert chain.stats(chain.bob)[2] == 0
    else:
        assert receipt["status"] == 1
        assert chain.job(job_id)["prover"] == chain.carol.address
        assert chain.deadline(job_id) == deadline + 1 + ACCEPT_WINDOW
        assert chain.stats(chain.bob)[2] == 1
    ledger.assert_changes()


@pytest.mark.parametrize("offset", [0, 1])
def test_cancel_at_the_accept_deadline(chain: Deployment, offset: int) -> None:
    """alice cancels bob's award at bob's accept deadline or one second later."""
    job_id, deadline = _awarded(chain)
    ledger = Ledger(chain)
    call = chain.market.functions.cancelJob(job_id)
    receipt = transact_at(chain.w3, deadline + offset, call, chain.alice.address)
    if offset == 0:
        assert_mined_reverts(chain.market, "AcceptWindowOpen", receipt)
        ledger.assert_changes()
    else:
        assert receipt["status"] == 1
        ledger.assert_changes(market={"alice": MAX_FEE})
        assert chain.stats(chain.bob)[2] == 1


@pytest.mark.parametrize("offset", [0, 1])
def test_bid_at_its_expiry(chain: Deployment, offset: int) -> None:
    """alice awards bob's bid at its expiry (still bob's offer) or one second later."""
    job_id = chain.create_job(3, 0)
    expiry = now(chain.w3) + 100
    ledger = Ledger(chain)
    call = chain.award_call(job_id, chain.bob, expiry=expiry)
    receipt = transact_at(chain.w3, expiry + offset, call, chain.alice.address)
    if offset == 0:
        assert receipt["status"] == 1
        assert chain.job(job_id)["status"] == AWARDED
    else:
        args = assert_mined_reverts(chain.market, "BidExpired", receipt)
        assert int.from_bytes(args, "big") == expiry
        assert chain.job(job_id)["status"] == OPEN
    ledger.assert_changes()


# Counters at their maximum never freeze money: they wrap.


def _max_out_counters(chain: Deployment, prover: Signer) -> None:
    """Set ``prover``'s fulfilled, feesEarned, slashed and lapsed to their type maximum."""
    w3, market = chain.w3, chain.market.address
    assert chain.stats(prover) == (0, 0, 0, 0)
    account = mapping_slot(prover.address, ACCOUNTS_SLOT)
    word = storage_at(w3, market, account)
    # Account: balance (96 bits), feesEarned (96), fulfilled (56), active (8), low to high.
    balance, active = word & U96, word >> 248
    set_storage_at(w3, market, account, balance | U96 << 96 | U56 << 192 | active << 248)
    # Penalties: lapsed (64 bits), slashed (64), low to high.
    set_storage_at(w3, market, mapping_slot(prover.address, PENALTIES_SLOT), U64 | U64 << 64)
    assert chain.stats(prover) == (U56, U64, U64, U96)
    assert chain.balance(prover) == balance


def test_a_lapse_at_the_maximum_count_still_settles(chain: Deployment) -> None:
    """bob's lapse counter is at 2^64 - 1; alice's withheld award lapses and she cancels."""
    _max_out_counters(chain, chain.bob)
    ledger = Ledger(chain)
    job_id, deadline = _awarded(chain)
    cancel = transact_at(
        chain.w3, deadline + 1, chain.market.functions.cancelJob(job_id), chain.alice.address
    )
    assert cancel["status"] == 1
    _withdraw(chain, chain.alice)
    ledger.assert_changes()
    assert chain.stats(chain.bob) == (U56, U64, 0, U96)


def test_a_slash_at_the_maximum_count_still_settles(chain: Deployment) -> None:
    """bob's slash counter is at 2^64 - 1; he misses a proof deadline and dave slashes."""
    _max_out_counters(chain, chain.bob)
    ledger = Ledger(chain)
    job_id, _ = _accepted(chain)
    _slash(chain, job_id, chain.dave)
    ledger.assert_changes(
        eth={"alice": -MAX_FEE, "market": MAX_FEE, "staking": -COLLATERAL, "burn": COLLATERAL},
        stake={"bob": -COLLATERAL},
    )
    assert chain.stats(chain.bob) == (U56, 0, U64, U96)


def test_a_proof_at_the_maximum_counts_still_pays(chain: Deployment) -> None:
    """bob's fulfilled count is at 2^56 - 1 and his fees earned at 2^96 - 1 wei; he proves."""
    _max_out_counters(chain, chain.bob)
    ledger = Ledger(chain)
    job_id, _ = _accepted(chain)
    chain.submit(job_id, _statement(chain), chain.bob)
    _withdraw(chain, chain.alice, chain.bob)
    ledger.assert_changes(eth={"alice": -FEE, "bob": FEE})
    assert chain.stats(chain.bob) == (0, U64, U64, FEE - 1)  # both wrapped past their maximum


# Signatures: only the prover's own canonical 65-byte signature over this job's terms.


def _split(signature: bytes) -> tuple[int, int, int]:
    return (
        int.from_bytes(signature[:32], "big"),
        int.from_bytes(signature[32:64], "big"),
        signature[64],
    )


def _join(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def _ecrecover(w3: Web3, digest: bytes, r: int, s: int, v: int) -> str | None:
    """What the ecrecover precompile itself makes of (digest, v, r, s)."""
    data = digest + v.to_bytes(32, "big") + r.to_bytes(32, "big") + s.to_bytes(32, "big")
    out = bytes(w3.eth.call({"to": ECRECOVER, "data": Web3.to_hex(data)}))
    return Web3.to_checksum_address(out[12:]) if out else None


def _refused(
    chain: Deployment, job_id: int, bid: tuple[Any, ...], signature: bytes, error: str
) -> dict[str, Any]:
    """Mine alice's award of ``bid`` with ``signature``, check it reverted with ``error`` and
    return its call tree."""
    call = chain.market.functions.awardJob(job_id, bid, signature)
    receipt = transact(chain.w3, call, chain.alice.address)
    assert_mined_reverts(chain.market, error, receipt)
    return trace_transaction(chain.w3, receipt["transactionHash"])


def _then_the_genuine_bid_is_awarded(chain: Deployment, job_id: int, ledger: Ledger) -> None:
    """The refusals were about the signature: bob's genuine bid goes through, moving nothing."""
    assert chain.job(job_id)["status"] == OPEN
    chain.award(job_id, chain.bob)
    assert chain.job(job_id)["prover"] == chain.bob.address
    ledger.assert_changes()


def test_the_high_s_twin_of_a_valid_signature_is_refused(chain: Deployment) -> None:
    """Attacker dave rewrites bob's signature as its high-s twin (s' = n - s, v flipped),
    which ecrecover accepts as bob's; victim bob, whose bid would exist twice."""
    job_id = chain.create_job(3, 0)
    bid, signature = chain.bid(job_id, chain.bob)
    r, s, v = _split(signature)
    twin = (r, SECP256K1_N - s, 55 - v)
    digest = bid_digest(chain.market.address, chain.chain_id, bid)
    assert _ecrecover(chain.w3, digest, *twin) == chain.bob.address
    ledger = Ledger(chain)
    _refused(chain, job_id, bid, _join(*twin), "InvalidBidSignature")
    _then_the_genuine_bid_is_awarded(chain, job_id, ledger)


@pytest.mark.parametrize("v", [0, 1, 29])
def test_v_outside_27_and_28_is_refused_before_ecrecover(chain: Deployment, v: int) -> None:
    """Attacker dave re-encodes bob's v (0/1 is the same signature in another convention)."""
    job_id = chain.create_job(3, 0)
    bid, signature = chain.bid(job_id, chain.bob)
    r, s, original = _split(signature)
    if v < 27:
        v = original - 27
    ledger = Ledger(chain)
    trace = _refused(chain, job_id, bid, _join(r, s, v), "InvalidBidSignature")
    assert calls_to(trace, ECRECOVER) == 0  # the market's own guard refused it
    _then_the_genuine_bid_is_awarded(chain, job_id, ledger)


def test_the_low_s_boundary_is_half_the_curve_order(chain: Deployment) -> None:
    """s = floor(n / 2) is the largest low s: the guard lets it through to ecrecover (which
    finds some other signer), and s = floor(n / 2) + 1 is refused before ecrecover. No real
    signature with either s can be made for a chosen bid, so the call tree is the witness."""
    job_id = chain.create_job(3, 0)
    bid, signature = chain.bid(job_id, chain.bob)
    r, _, v = _split(signature)
    ledger = Ledger(chain)
    at = _refused(chain, job_id, bid, _join(r, HALF_ORDER, v), "InvalidBidSignature")
    above = _refused(chain, job_id, bid, _join(r, HALF_ORDER + 1, v), "InvalidBidSignature")
    assert calls_to(at, ECRECOVER) == 1
    assert calls_to(above, ECRECOVER) == 0
    _then_the_genuine_bid_is_awarded(chain, job_id, ledger)


@pytest.mark.parametrize("length", [64, 66])
def test_signatures_of_other_lengths_are_refused(chain: Deployment, length: int) -> None:
    """Attacker dave truncates bob's signature or pads it by a byte."""
    job_id = chain.create_job(3, 0)
    bid, signature = chain.bid(job_id, chain.bob)
    mangled = signature[:64] if length == 64 else signature + b"\x00"
    assert len(mangled) == length
    ledger = Ledger(chain)
    _refused(chain, job_id, bid, mangled, "InvalidBidSignature")
    _then_the_genuine_bid_is_awarded(chain, job_id, ledger)


TERM_FIELDS = (
    "requester",
    "model_id",
    "input_commitment",
    "collateral",
    "accept_window",
    "proof_window",
)


def _other_terms(chain: Deployment, job_id: int, field: str) -> Any:
    terms = chain.terms(job_id)
    other: dict[str, Any] = {
        "requester": chain.carol.address,
        "model_id": chain.models[1],
        "input_commitment": chain.circuits[3].statements[1].commitment,
        "collateral": terms.collateral + 1,
        "accept_window": terms.accept_window + 1,
        "proof_window": terms.proof_window + 1,
    }
    changed = {**terms.__dict__, field: other[field]}
    assert changed != terms.__dict__
    return type(terms)(**changed)


@pytest.mark.parametrize("field", TERM_FIELDS)
def test_a_bid_carrying_other_terms_is_refused(chain: Deployment, field: str) -> None:
    """Attacker alice awards a bid bob signed for other terms, tuple and all (say, a cheaper
    model, less collateral or a longer window than the job has)."""
    job_id = chain.create_job(3, 0)
    bid, signature = chain.bid(job_id, chain.bob, terms=_other_terms(chain, job_id, field))
    ledger = Ledger(chain)
    _refused(chain, job_id, bid, signature, "BidTermsMismatch")
    _then_the_genuine_bid_is_awarded(chain, job_id, ledger)


@pytest.mark.parametrize("field", TERM_FIELDS)
def test_a_signature_over_other_terms_is_refused(chain: Deployment, field: str) -> None:
    """Attacker alice puts the job's true terms in the tuple of a bid bob signed for other
    terms: the terms check passes and the signature must not."""
    job_id = chain.create_job(3, 0)
    bid = bid_tuple(job_id, chain.bob.address, FEE, now(chain.w3) + 3600, chain.terms(job_id))
    signed = bid_tuple(*bid[:4], _other_terms(chain, job_id, field))
    signature = bid_signature(chain.bob, chain.market.address, chain.chain_id, signed)
    ledger = Ledger(chain)
    _refused(chain, job_id, bid, signature, "InvalidBidSignature")
    _then_the_genuine_bid_is_awarded(chain, job_id, ledger)


def test_a_bid_signed_over_the_version_1_domain_is_refused(chain: Deployment) -> None:
    """Attacker alice replays bob's bid signed for a settlement-v1 market at the same address."""
    job_id = chain.create_job(3, 0)
    bid, _ = chain.bid(job_id, chain.bob)
    v1 = bid_signature(chain.bob, chain.market.address, chain.chain_id, bid, version="1")
    ledger = Ledger(chain)
    _refused(chain, job_id, bid, v1, "InvalidBidSignature")
    _then_the_genuine_bid_is_awarded(chain, job_id, ledger)


def test_a_bid_signed_by_another_key_is_refused(chain: Deployment) -> None:
    """Attacker carol signs a bid naming bob (who would then owe the work), and bob's own
    signature is offered for a bid naming carol."""
    job_id = chain.create_job(3, 0)
    bid, _ = chain.bid(job_id, chain.bob)
    by_carol = bid_signature(chain.carol, chain.market.address, chain.chain_id, bid)
    for_carol = (bid[0], chain.carol.address, *bid[2:])
    by_bob = bid_signature(chain.bob, chain.market.address, chain.chain_id, for_carol)
    ledger = Ledger(chain)
    _refused(chain, job_id, bid, by_carol, "InvalidBidSignature")
    _refused(chain, job_id, bid, by_bob, "InvalidBidSignature")
    _then_the_genuine_bid_is_awarded(chain, job_id, ledger)


# Odd amounts: every wei accounted.


def test_odd_wei_amounts_are_accounted_to_the_wei(chain: Deployment) -> None:
    """Victim alice pays a 7-wei max fee for a 3-wei bid; bob locks 10^18 + 1 wei, fails and is
    slashed by dave; carol proves the re-award. A second 7-wei job is cancelled."""
    collateral, max_fee, fee = 10**18 + 1, 7, 3
    ledger = Ledger(chain)
    job_id = chain.create_job(3, 0, max_fee=max_fee, collateral=collateral)
    chain.accepted(job_id, chain.bob, fee)
    assert chain.stake_of(chain.bob) == (STAKE, collateral)
    _slash(chain, job_id, chain.dave)
    chain.accepted(job_id, chain.carol, fee)
    chain.submit(job_id, _statement(chain), chain.carol)
    other = chain.create_job(3, 1, max_fee=max_fee, collateral=collateral)
    send(chain.w3, chain.market.functions.cancelJob(other), chain.alice.address)
    assert chain.balance(chain.alice) == max_fee - fee + max_fee
    _withdraw(chain, chain.alice, chain.carol)
    ledger.assert_changes(
        eth={"alice": -fee, "carol": fee, "staking": -collateral, "burn": collateral},
        stake={"bob": -collateral},
    )
    assert chain.stats(chain.carol) == (1, 0, 0, fee)


# The uint96 caps.


def test_create_job_caps_the_escrow_at_uint96(chain: Deployment) -> None:
    """Attacker alice escrows more wei than the books can hold."""
    m = chain.market
    set_balance(chain.w3, chain.alice.address, 2**98)
    ledger = Ledger(chain)
    create = m.functions.createJob(chain.models[3], 1, 0, ACCEPT_WINDOW, PROOF_WINDOW)
    args = assert_mined_reverts(
        m, "AmountTooLarge", transact(chain.w3, create, chain.alice.address, U96 + 1)
    )
    assert int.from_bytes(args, "big") == U96 + 1
    assert transact(chain.w3, create, chain.alice.address, U96)["status"] == 1
    assert chain.job(1)["maxFee"] == U96
    ledger.assert_changes(eth={"alice": -U96, "market": U96})


def test_create_job_caps_the_collateral_at_uint96(chain: Deployment) -> None:
    """Attacker alice asks for more collateral than the books can hold."""
    m = chain.market
    ledger = Ledger(chain)

    def create(collateral: int) -> Any:
        call = m.functions.createJob(chain.models[3], 1, collateral, ACCEPT_WINDOW, PROOF_WINDOW)
        return transact(chain.w3, call, chain.alice.address, MAX_FEE)

    args = assert_mined_reverts(m, "AmountTooLarge", create(U96 + 1))
    assert int.from_bytes(args, "big") == U96 + 1
    assert create(U96)["status"] == 1
    assert chain.job(1)["collateral"] == U96
    ledger.assert_changes(eth={"alice": -MAX_FEE, "market": MAX_FEE})


def test_a_credit_past_uint96_waits_for_a_withdrawal(chain: Deployment) -> None:
    """alice cancels two jobs of 2^96 - 1 wei without withdrawing in between: the first fills
    her balance to the cap exactly, the second is refused until she withdraws."""
    m, w3 = chain.market, chain.w3
    set_balance(w3, chain.alice.address, 2**98)
    ledger = Ledger(chain)
    first = chain.create_job(3, 0, max_fee=U96)
    second = chain.create_job(3, 0, max_fee=U96)
    send(w3, m.functions.cancelJob(first), chain.alice.address)
    assert chain.balance(chain.alice) == U96
    refused = transact(w3, m.functions.cancelJob(second), chain.alice.address)
    args = assert_mined_reverts(m, "AmountTooLarge", refused)
    assert int.from_bytes(args, "big") == 2 * U96
    assert chain.job(second)["status"] == OPEN
    _withdraw(chain, chain.alice)
    send(w3, m.functions.cancelJob(second), chain.alice.address)
    _withdraw(chain, chain.alice)
    ledger.assert_changes()


@pytest.mark.parametrize("excess", [0, 1])
def test_a_fee_past_the_provers_uint96_balance_waits_for_a_withdrawal(
    chain: Deployment, excess: int
) -> None:
    """bob holds a market balance FEE - excess short of the cap when his proof pays FEE: at
    the cap exactly it settles, one wei past it is refused until he withdraws."""
    m, w3 = chain.market, chain.w3
    set_balance(w3, chain.bob.address, 2**98)
    ledger = Ledger(chain)
    own = chain.create_job(3, 0, requester=chain.bob, max_fee=U96 - FEE + excess)
    send(w3, m.functions.cancelJob(own), chain.bob.address)
    job_id, _ = _accepted(chain)
    submit = transact(w3, chain.submit_call(job_id, _statement(chain)), chain.bob.address)
    if excess:
        args = assert_mined_reverts(m, "AmountTooLarge", submit)
        assert int.from_bytes(args, "big") == U96 + 1
        _withdraw(chain, chain.bob)
        chain.submit(job_id, _statement(chain), chain.bob)
    else:
        assert submit["status"] == 1
        assert chain.balance(chain.bob) == U96
    _withdraw(chain, chain.alice, chain.bob)
    ledger.assert_changes(eth={"alice": -FEE, "bob": FEE})


# Failed transfers: an account that refuses ether keeps what it is owed.


def _forward_failure(w3: Web3, rejecter: Contract, receipt: Any) -> bytes:
    """The inner revert data of EtherRejecter's ForwardFailed(bytes), from a mined revert."""
    data = mined_revert_data(w3, receipt)
    assert data[:4] == error_selector(rejecter.abi, "ForwardFailed")
    (inner,) = decode(["bytes"], data[4:])
    return bytes(inner)


def test_a_requester_that_refuses_ether_keeps_its_credit(chain: Deployment) -> None:
    """A requester contract without receive() withdraws: the transfer fails and reverts the
    whole withdrawal, so its credit stays on the books."""
    m, w3 = chain.market, chain.w3
    rejecter = deploy(w3, "EtherRejecter", sender=chain.dave.address)
    ledger = Ledger(chain, {"dave": chain.dave, "rejecter": rejecter.address})
    create = m.encode_abi("createJob", [chain.models[3], 1, 0, ACCEPT_WINDOW, PROOF_WINDOW])
    send(w3, rejecter.functions.forward(m.address, create), chain.dave.address, MAX_FEE)
    send(
        w3,
        rejecter.functions.forward(m.address, m.encode_abi("cancelJob", [1])),
        chain.dave.address,
    )
    receipt = transact(
        w3, rejecter.functions.forward(m.address, m.encode_abi("withdraw", [])), chain.dave.address
    )
    inner = _forward_failure(w3, rejecter, receipt)
    assert inner[:4] == error_selector(m.abi, "TransferFailed")
    assert decode(["address", "uint256"], inner[4:]) == (rejecter.address.lower(), MAX_FEE)
    ledger.assert_changes(eth={"dave": -MAX_FEE, "market": MAX_FEE}, market={"rejecter": MAX_FEE})


def test_a_staker_that_refuses_ether_keeps_its_pending_withdrawal(chain: Deployment) -> None:
    """A staker contract without receive() withdraws its stake after the delay: the transfer
    fails and the pending withdrawal stays."""
    st, w3 = chain.staking, chain.w3
    rejecter = deploy(w3, "EtherRejecter", sender=chain.dave.address)
    ledger = Ledger(chain, {"dave": chain.dave, "rejecter": rejecter.address})

    def forward(data: str, value: int = 0) -> Any:
        call = rejecter.functions.forward(st.address, data)
        return transact(w3, call, chain.dave.address, value)

    assert forward(st.encode_abi("deposit", []), STAKE)["status"] == 1
    assert forward(st.encode_abi("requestWithdrawal", [STAKE]))["status"] == 1
    set_time(w3, now(w3) + WITHDRAWAL_DELAY)
    inner = _forward_failure(w3, rejecter, forward(st.encode_abi("withdraw", [])))
    assert inner[:4] == error_selector(st.abi, "TransferFailed")
    assert decode(["address", "uint256"], inner[4:]) == (rejecter.address.lower(), STAKE)
    ledger.assert_changes(eth={"dave": -STAKE, "staking": STAKE}, pending={"rejecter": STAKE})


# Registry and staking errors only a broken caller could reach.


def test_a_key_whose_data_contract_cannot_be_created_is_refused(chain: Deployment) -> None:
    """dave registers an 11-signal key with a gas limit that lets the registry reach the key's
    CREATE but not pay for its 1,217 bytes of code: the registry must revert with
    KeyStorageFailed rather than record a model without a key. The limit is found by
    bisection on the call tree: the least gas at which the CREATE succeeds, minus one."""
    reg, w3 = chain.registry, chain.w3
    circuit = chain.circuits[11]
    call = reg.functions.registerModel(
        b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32, 11, 1, vk_bytes(circuit.vk_words)
    )
    data = call.build_transaction({"from": chain.dave.address, "gas": TX_GAS})["data"]

    def create_succeeds(gas: int) -> bool:
        tx = {"from": chain.dave.address, "to": reg.address, "data": data, "gas": gas}
        frames = trace_call(w3, tx).get("calls", [])
        return any(f["type"] == "CREATE" and "error" not in f for f in frames)

    low, high = 100_000, TX_GAS  # above the calldata's intrinsic gas, far below the CREATE's
    assert not create_succeeds(low)
    assert create_succeeds(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if create_succeeds(middle) else (middle, high)
    count = reg.functions.modelCount().call()
    starved = transact(w3, call, chain.dave.address, gas=low)
    assert_mined_reverts(reg, "KeyStorageFailed", starved)
    assert reg.functions.modelCount().call() == count
    assert transact(w3, call, chain.dave.address)["status"] == 1  # with enough gas it registers
    assert reg.functions.modelCount().call() == count + 1


def test_releasing_or_slashing_more_than_is_locked_is_refused(chain: Deployment) -> None:
    """A staking contract whose market is a plain account (dave) that asks to release or slash
    more than bob has locked: only the locked amount can ever move."""
    w3, dave, bob = chain.w3, chain.dave.address, chain.bob.address
    fresh = deploy(w3, "ProverStaking", 1, sender=chain.deployer.address)
    send(w3, fresh.functions.setMarket(dave), chain.deployer.address)
    send(w3, fresh.functions.deposit(), bob, 5)
    send(w3, fresh.functions.lockCollateral(bob, 3), dave)
    burned = w3.eth.get_balance(BURN_ADDRESS)

    def market_call(fn: Any, amount: int) -> Any:
        return transact(w3, fn(bob, amount), dave)

    for fn in (fresh.functions.releaseCollateral, fresh.functions.slashCollateral):
        args = assert_mined_reverts(fresh, "InsufficientLocked", market_call(fn, 4))
        assert decode(["address", "uint256", "uint256"], args) == (bob.lower(), 3, 4)
    assert market_call(fresh.functions.releaseCollateral, 1)["status"] == 1
    assert market_call(fresh.functions.slashCollateral, 2)["status"] == 1
    assert fresh.functions.stakeOf(bob).call() == [3, 0]
    args = assert_mined_reverts(
        fresh, "InsufficientLocked", market_call(fresh.functions.releaseCollateral, 1)
    )
    assert decode(["address", "uint256", "uint256"], args) == (bob.lower(), 0, 1)
    assert w3.eth.get_balance(BURN_ADDRESS) == burned + 2
    assert w3.eth.get_balance(fresh.address) == 3
