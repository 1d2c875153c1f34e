"""Which rescue offers a requester answers (node.engine.rescue_offers)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from node.chain.types import StakeInfo
from node.engine.rescue_offers import (
    answer_rescue_offer,
    asks_for_input,
    chosen_rescuer,
    rescue_offer_problem,
)
from node.store import BidDirection, BidSource, BidStatus, Role, Store
from protocol.market import RequesterJob, RequesterState
from protocol.market.requester import RescuerChosen
from protocol.messages import Bid, sign_bid
from tests.node.engine.test_prover import CONTRACTS, KEYS, MARKET, PEERS, RAW

M = bytes.fromhex(MARKET[2:])
DEADLINE, WINDOW = 1_000, 3_600
OVERDUE = RequesterJob(RequesterState.OVERDUE, 10**17, 10**16, 500, DEADLINE, WINDOW,
                       job_id=7, prover=RAW["bob"], fee=10**15)  # fmt: skip


def offer(name: str, *, job_id: int = 7, expiry: int = DEADLINE + WINDOW, key: str = "") -> Bid:
    return sign_bid(KEYS[key or name], 31337, M, job_id=job_id, fee=10**15, expiry=expiry,
                    peer_id=PEERS[name])  # fmt: skip


@pytest.mark.parametrize(
    ("job", "bid", "stake", "now", "problem"),
    [
        (OVERDUE, offer("carol"), 1, DEADLINE + 1, None),
        (
            dataclasses.replace(OVERDUE, state=RequesterState.INPUT_DELIVERED),
            offer("carol"),
            1,
            DEADLINE + 1,
            "not overdue",
        ),
        (OVERDUE, offer("carol", job_id=8), 1, DEADLINE + 1, "for job 8"),
        (OVERDUE, offer("bob"), 1, DEADLINE + 1, "assigned prover"),
        (OVERDUE, offer("carol"), 1, DEADLINE + WINDOW + 1, "window has closed"),
        (OVERDUE, offer("carol", expiry=DEADLINE), 1, DEADLINE + 1, "offer expired"),
        (OVERDUE, offer("carol"), 0, DEADLINE + 1, "staked provers only"),
        (
            OVERDUE,
            dataclasses.replace(offer("alice"), prover=RAW["carol"]),
            1,
            DEADLINE + 1,
            "not signed by its prover",
        ),
    ],
)
def test_an_offer_is_taken_only_where_jobmarket_would_pay_the_rescue(
    job: RequesterJob, bid: Bid, stake: int, now: int, problem: str | None
) -> None:
    found = rescue_offer_problem(job, bid, stake, 31337, M, now)
    assert found is None if problem is None else problem in (found or "")


def test_the_first_valid_offer_chooses_the_rescuer(tmp_path: Path) -> None:
    with Store.open(tmp_path / "alice.db", chain_id=31337, contracts=CONTRACTS) as store:
        won = sign_bid(KEYS["bob"], 31337, M, job_id=7, fee=10**15, expiry=500,
                       peer_id=PEERS["bob"])  # fmt: skip
        won_key, _ = store.add_bid(won, BidDirection.RECEIVED, BidSource.DIRECT)
        store.set_bid_status(won_key, BidStatus.WON)
        assert chosen_rescuer(store, OVERDUE) is None  # the award's bid is no rescue
        late, _ = store.add_bid(offer("alice"), BidDirection.RECEIVED, BidSource.GOSSIP)
        store.set_bid_status(late, BidStatus.INVALID, "not staked")
        first, _ = store.add_bid(offer("carol"), BidDirection.RECEIVED, BidSource.DIRECT)
        store.set_bid_status(first, BidStatus.VALID)
        assert chosen_rescuer(store, OVERDUE) == RAW["carol"]


def test_only_the_assigned_prover_asks_again_for_a_delivered_input() -> None:
    delivered = dataclasses.replace(OVERDUE, state=RequesterState.INPUT_DELIVERED)
    bobs = sign_bid(KEYS["bob"], 31337, M, job_id=7, fee=10**15, expiry=500, peer_id=PEERS["bob"])
    assert asks_for_input(delivered, bobs)
    assert not asks_for_input(delivered, offer("carol"))
    assert not asks_for_input(delivered, dataclasses.replace(bobs, job_id=8))
    assert not asks_for_input(OVERDUE, bobs)  # past the deadline only a rescuer gets it
    awarded = dataclasses.replace(OVERDUE, state=RequesterState.AWARDED)
    assert not asks_for_input(awarded, bobs)  # still being delivered


class FakeRequester:
    """What answer_rescue_offer reads of RequesterRole, recording the events it steps."""

    def __init__(self) -> None:
        self.chain = SimpleNamespace(chain_id=31337, stake_of=lambda account: StakeInfo(1, 0, 0, 0))
        self.market = M
        self.stepped: list[object] = []

    def clock(self) -> float:
        return DEADLINE + 1

    def _advance(self, ctx: object, key: int, event: object, **_: object) -> None:
        self.stepped.append(event)


async def test_the_first_offer_gets_the_input_and_auction_bids_keep_their_status(
    tmp_path: Path,
) -> None:
    requester = FakeRequester()
    with Store.open(tmp_path / "alice.db", chain_id=31337, contracts=CONTRACTS) as store:
        key = store.add_job(Role.REQUESTER, OVERDUE, model_id=1)
        ctx = cast(Any, SimpleNamespace(store=store))
        won = sign_bid(KEYS["bob"], 31337, M, job_id=7, fee=10**15, expiry=500,
                       peer_id=PEERS["bob"])  # fmt: skip
        statuses = {}
        for bid, status in ((won, BidStatus.WON), (offer("carol"), None), (offer("alice"), None)):
            bid_key, _ = store.add_bid(bid, BidDirection.RECEIVED, BidSource.DIRECT)
            if status is not None:
                store.set_bid_status(bid_key, status)
            await answer_rescue_offer(cast(Any, requester), ctx, store.get_job(key), bid_key, bid)
            statuses[bid.prover] = next(b for b in store.bids_for_job(7) if b.key == bid_key)
    assert statuses[RAW["bob"]].status is BidStatus.WON  # the winner's bid sent again
    assert statuses[RAW["carol"]].status is BidStatus.VALID
    assert statuses[RAW["alice"]].status is BidStatus.INVALID
    assert "another prover" in (statuses[RAW["alice"]].reason or "")
    assert requester.stepped == [RescuerChosen(RAW["carol"])]
