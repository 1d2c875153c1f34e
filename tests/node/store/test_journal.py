"""The intent journal: record before acting, mark after, never twice for one job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from node.store import (
    DuplicateIntentError,
    IntentStatus,
    IntentTransitionError,
    Role,
    Store,
    StoreError,
    UnknownRecordError,
)
from protocol.market import new_requester_job
from tests.node.store.conftest import CHAIN_ID, CONTRACTS, Clock

NOW = 1_700_000_000


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    succeeded: bool
    gas_used: int


def a_job(store: Store) -> int:
    job, _ = new_requester_job(
        max_fee=10, collateral=0, bid_deadline=NOW, accept_window=60, proof_window=600
    )
    return store.add_job(Role.REQUESTER, job)


def test_an_intent_goes_from_recorded_to_sent_to_mined(store: Store, clock: Clock) -> None:
    job = a_job(store)
    intent = store.record_intent("create_job", job, {"max_fee": 10, "model_id": 3})
    assert [i.id for i in store.open_intents()] == [intent]
    recorded = store.get_intent(intent)
    assert (recorded.status, recorded.params, recorded.is_open) == (
        IntentStatus.RECORDED, {"max_fee": 10, "model_id": 3}, True
    )  # fmt: skip
    store.mark_sent(intent, "0xAB", nonce=4)
    store.mark_sent(intent, "0xCD", nonce=4)  # a re-signed replacement of the same nonce
    assert store.get_intent(intent).tx_hash == "0xcd"
    clock.now += 12
    store.mark_mined(intent, Receipt("0xCD", 100, "0xBB", True, 21_000))
    mined = store.get_intent(intent)
    assert mined.status is IntentStatus.MINED
    assert mined.receipt == {
        "tx_hash": "0xcd", "block_number": 100, "block_hash": "0xbb", "succeeded": True,
        "gas_used": 21_000,
    }  # fmt: skip
    assert mined.updated_at == mined.created_at + 12
    assert store.open_intents() == []
    assert [i.id for i in store.intents_for_job(job)] == [intent]


def test_the_same_action_for_a_job_is_never_journaled_twice(store: Store) -> None:
    job = a_job(store)
    first = store.record_intent("submit_proof", job, {})
    with pytest.raises(DuplicateIntentError, match=f"intent {first}") as caught:
        store.record_intent("submit_proof", job, {})
    assert caught.value.existing == first
    store.mark_sent(first, "0x01", 1)
    with pytest.raises(DuplicateIntentError):
        store.record_intent("submit_proof", job, {})
    # Another kind, or another job, is independent.
    store.record_intent("cancel_job", job, {})
    store.record_intent("submit_proof", a_job(store), {})
    # A reverted submission may be tried again; a mined one never.
    store.mark_mined(first, Receipt("0x01", 5, "0xb", False, 50_000))
    assert store.get_intent(first).status is IntentStatus.REVERTED
    second = store.record_intent("submit_proof", job, {"attempt": 2})
    store.mark_mined(second, Receipt("0x02", 6, "0xc", True, 50_000))
    with pytest.raises(DuplicateIntentError, match=f"intent {second}"):
        store.record_intent("submit_proof", job, {})


def test_failed_and_dropped_intents_free_the_action_and_may_still_land(store: Store) -> None:
    job = a_job(store)
    failed = store.record_intent("award_job", job, {})
    store.mark_failed(failed, "nonce too low")
    dropped = store.record_intent("award_job", job, {})
    with pytest.raises(IntentTransitionError, match="recorded; it cannot become dropped"):
        store.mark_dropped(dropped, "gone")
    store.mark_sent(dropped, "0x02", 7)
    store.mark_dropped(dropped, "replaced by another transaction of nonce 7")
    assert store.get_intent(dropped).reason == "replaced by another transaction of nonce 7"
    # The chain has the last word: a send thought lost is found mined ...
    store.mark_mined(dropped, Receipt("0x02", 9, "0xd", True, 1))
    # ... and then the other one cannot also be counted as landed.
    with pytest.raises(StoreError, match="cannot become mined"):
        store.mark_mined(failed, Receipt("0x01", 9, "0xd", True, 1))
    assert store.get_intent(failed).status is IntentStatus.FAILED


def test_marks_follow_the_lifecycle(store: Store) -> None:
    intent = store.record_intent("stake_deposit", None, {"amount": str(10**18)})
    store.mark_mined(intent, Receipt("0x1", 1, "0x2", True, 1))
    for mark in (
        lambda: store.mark_sent(intent, "0x3", 1),
        lambda: store.mark_failed(intent, "late"),
        lambda: store.mark_dropped(intent, "late"),
    ):
        with pytest.raises(IntentTransitionError, match="is mined"):
            mark()
    # Actions that belong to no job are not limited to one.
    store.record_intent("stake_deposit", None, {})
    store.record_intent("stake_deposit", None, {})
    with pytest.raises(StoreError, match="unknown intent kind 'steal'"):
        store.record_intent("steal", None, {})
    with pytest.raises(UnknownRecordError):
        store.mark_sent(999, "0x1", 1)
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.record_intent("slash", 12345, {})


def test_open_intents_survive_a_reopen_for_reconciliation(store: Store) -> None:
    job = a_job(store)
    recorded = store.record_intent("create_job", job, {})
    sent = store.record_intent("withdraw", job, {})
    store.mark_sent(sent, "0x9", 3)
    done = store.record_intent("register_model", None, {"name": "digits"})
    store.mark_failed(done, "out of gas")
    store.close()
    with Store.open(Path(store.path), chain_id=CHAIN_ID, contracts=CONTRACTS) as reopened:
        assert [(i.id, i.status) for i in reopened.open_intents()] == [
            (recorded, IntentStatus.RECORDED),
            (sent, IntentStatus.SENT),
        ]
        assert reopened.get_intent(sent).nonce == 3


def test_a_sent_intent_keeps_its_signed_transaction(store: Store) -> None:
    job = a_job(store)
    intent = store.record_intent("award_job", job, {"job_id": "1"})
    signed = {"tx_hash": "0xab", "nonce": 4, "raw": "0x02f8", "value": 10**30}
    store.mark_sent(intent, "0xAB", 4, signed)
    [reopened] = store.open_intents()
    assert (reopened.signed, reopened.tx_hash, reopened.nonce) == (signed, "0xab", 4)
    store.mark_sent(intent, "0xCD", 4)  # a re-signed replacement without its bytes
    assert store.get_intent(intent).signed is None  # never the bytes of another hash


def test_each_award_or_slash_of_a_job_is_journaled_once_per_attempt(store: Store) -> None:
    """Settlement v2 awards a job again after a lapse and slashes it again after a re-award:
    "never twice" holds per (kind, job, attempt)."""
    job = a_job(store)
    first = store.record_intent("award_job", job, {"prover": "bob"})
    store.mark_mined(first, Receipt("0x01", 5, "0xb", True, 80_000))
    with pytest.raises(DuplicateIntentError, match=f"intent {first}"):
        store.record_intent("award_job", job, {"prover": "carol"})  # the same award again
    second = store.record_intent("award_job", job, {"prover": "carol"}, attempt=1)
    with pytest.raises(DuplicateIntentError, match=f"intent {second}") as caught:
        store.record_intent("award_job", job, {}, attempt=1)
    assert caught.value.existing == second
    assert [(i.id, i.attempt) for i in store.intents_for_job(job)] == [(first, 0), (second, 1)]
    slash = store.record_intent("slash", job, {}, attempt=1)
    store.mark_failed(slash, "ProofDeadlineNotPassed")
    assert store.record_intent("slash", job, {}, attempt=1) > slash  # a failed one frees it


def test_a_prover_journals_its_acceptance(store: Store) -> None:
    job = a_job(store)
    accept = store.record_intent("accept_job", job, {"job_id": "7"})
    assert store.get_intent(accept).kind == "accept_job"
    with pytest.raises(DuplicateIntentError):
        store.record_intent("accept_job", job, {})
    store.mark_sent(accept, "0xaa", 3)
    store.mark_mined(accept, Receipt("0xaa", 9, "0xc", True, 47_000))
    assert store.get_intent(accept).status is IntentStatus.MINED
