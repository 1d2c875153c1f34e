"""Bids signed here are exactly what a real JobMarket on anvil recovers and awards."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from node.anvil import DEV_PRIVATE_KEYS, AnvilProcess, rpc_call
from node.chain import types as chain_types
from node.chain.client import Web3Chain
from node.chain.deploy import DeployParams, deploy_contracts
from node.chain.errors import ContractRevert
from node.chain.rpc import RetryPolicy, connect
from node.chain.sender import TxSender
from node.keys import dev_account
from protocol.messages import (
    Bid,
    JobTerms,
    bid_digest,
    market_domain_separator,
    recover_bid_signer,
    sign_bid,
)
from tests.node.chain.conftest import anvil_miner
from tests.node.chain.fake_chain import register_finalized
from tests.trapdoor import TrapdoorKey

from .samples import PEER_B

ALICE, BOB = 1, 2  # dev accounts: requester, prover
ETH = 10**18


@pytest.fixture(scope="module")
def market(anvil: AnvilProcess) -> Iterator[dict[int, Web3Chain]]:
    """Contracts on the session anvil (rolled back after this module): alice and bob's clients."""
    snapshot = rpc_call(anvil.rpc_url, "evm_snapshot")
    try:
        w3 = connect(
            anvil.rpc_url,
            expected_chain_id=anvil.chain_id,
            retry=RetryPolicy(attempts=2, backoff_s=0.01, timeout_s=5.0),
        )
        deployment = deploy_contracts(TxSender(w3, dev_account(0)), DeployParams())
        yield {n: Web3Chain(w3, deployment, dev_account(n), confirmations=0) for n in (ALICE, BOB)}
    finally:
        rpc_call(anvil.rpc_url, "evm_revert", [snapshot])


def _key(account: int) -> bytes:
    return bytes.fromhex(DEV_PRIVATE_KEYS[account][2:])


def _market_address(chain: Web3Chain) -> bytes:
    return bytes.fromhex(chain.deployment.address("JobMarket")[2:])


def _onchain(bid: Bid, terms: JobTerms) -> chain_types.Bid:
    """The IJobMarket.Bid tuple of a signed bid on a job with ``terms``."""
    return chain_types.Bid(
        bid.job_id,
        "0x" + bid.prover.hex(),
        bid.fee,
        bid.expiry,
        "0x" + terms.requester.hex(),
        terms.model_id,
        terms.input_commitment,
        terms.collateral,
        terms.accept_window,
        terms.proof_window,
    )


def test_domain_separator_matches_the_contract(market: dict[int, Web3Chain]) -> None:
    chain = market[ALICE]
    onchain = bytes(chain.contracts["JobMarket"].call("domainSeparator"))
    assert market_domain_separator(chain.chain_id, _market_address(chain)) == onchain
    fields, name, version, chain_id, verifying, _, _ = chain.contracts["JobMarket"].call(
        "eip712Domain"
    )
    assert (fields, name, version, chain_id) == (
        b"\x0f",
        "provernet JobMarket",
        "2",
        chain.chain_id,
    )
    assert verifying == chain.deployment.address("JobMarket")


u256 = st.integers(0, 2**256 - 1)
u32 = st.integers(0, 2**32 - 1)


@settings(max_examples=10, deadline=None)
@given(
    u256,
    u256,
    st.integers(0, 2**64 - 1),
    st.builds(JobTerms, st.binary(min_size=20, max_size=20), u256, u256, u256, u32, u32),
)
def test_bid_digest_matches_the_contract(
    market: dict[int, Web3Chain], job_id: int, fee: int, expiry: int, terms: JobTerms
) -> None:
    chain = market[BOB]
    bid = sign_bid(
        _key(BOB),
        chain.chain_id,
        _market_address(chain),
        terms,
        job_id=job_id,
        fee=fee,
        expiry=expiry,
        peer_id=PEER_B,
    )
    onchain = chain.bid_digest(_onchain(bid, terms))
    assert bid_digest(chain.chain_id, _market_address(chain), bid, terms) == onchain


def test_award_job_accepts_our_signed_bid_for_its_terms_only(
    market: dict[int, Web3Chain], anvil: AnvilProcess
) -> None:
    alice, bob = market[ALICE], market[BOB]
    key_data = TrapdoorKey(1).key_bytes  # a well-formed key: never verified here
    spec = chain_types.ModelSpec(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 1, 1000, key_data)
    model_id = register_finalized(alice, spec, anvil_miner(anvil))
    bob.deposit_stake(ETH)
    now = alice.timestamp()
    request = chain_types.JobRequest(model_id, 777, ETH // 10, 120, 600, ETH // 100)
    job_id, _ = alice.create_job(request)
    market_address = _market_address(alice)
    terms = JobTerms(bytes.fromhex(alice.address[2:]), model_id, 777, ETH // 10, 120, 600)

    def signed(key: int, terms: JobTerms = terms) -> Bid:
        return sign_bid(_key(key), alice.chain_id, market_address, terms, job_id=job_id,
                        fee=ETH // 200, expiry=now + 500, peer_id=PEER_B)  # fmt: skip

    bid = signed(BOB)
    assert recover_bid_signer(alice.chain_id, market_address, bid, terms) == bytes.fromhex(
        bob.address[2:]
    )
    onchain_bid = _onchain(bid, terms)
    with pytest.raises(ContractRevert, match="InvalidBidSignature"):
        alice.award_job(onchain_bid, signed(ALICE).signature)  # forged: alice signed bob's offer
    # Signed over a lower collateral than the job's: not an offer for this job.
    cheaper = dataclasses.replace(terms, collateral=ETH // 20)
    with pytest.raises(ContractRevert, match="BidTermsMismatch"):
        alice.award_job(_onchain(bid, cheaper), signed(BOB, cheaper).signature)
    with pytest.raises(ContractRevert, match="InvalidBidSignature"):
        alice.award_job(onchain_bid, signed(BOB, cheaper).signature)
    result = alice.award_job(onchain_bid, bid.signature)
    awarded = result.event("JobAwarded").args
    assert awarded["prover"] == Web3.to_checksum_address(bob.address)
    job = alice.get_job(job_id)
    assert (job.status, job.fee, job.deadline) == (
        chain_types.JobStatus.AWARDED,
        ETH // 200,
        awarded["acceptDeadline"],
    )
    assert bob.stake_of(bob.address).locked == 0  # an award locks nothing
    bob.accept_job(job_id)
    assert bob.stake_of(bob.address).locked == ETH // 10
    assert alice.get_job(job_id).status is chain_types.JobStatus.ACCEPTED
