"""ModelRegistry's phase-2 ceremony record: open, contribute in order, close, finalize."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from tests.contracts.chain import (
    assert_mined_reverts,
    assert_reverts,
    events,
    gas_cost,
    now,
    rpc,
    send,
    transact,
    transact_at,
)
from tests.contracts.deployment import COLLATERAL, MAX_FEE, Deployment, vk_bytes
from tests.trapdoor import TrapdoorKey

pytestmark = pytest.mark.slow

CIRCUIT, PHASE1 = b"\xc1" * 32, hashlib.sha256(b"phase 1").digest()
WINDOW = 600
NAME = "digits-mlp"


def key_hash(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def contribution_hash(label: str) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=64).digest()


def record(chain: Deployment, ceremony_id: int) -> dict[str, Any]:
    names = ["coordinator", "deadline", "beacon_block", "contributions", "included", "circuit",
             "phase1",
             "initial", "latest", "transcript", "model_id"]  # fmt: skip
    return dict(zip(names, chain.registry.functions.getCeremony(ceremony_id).call(), strict=True))


def open_ceremony(chain: Deployment, window: int = WINDOW) -> tuple[int, int]:
    """A ceremony opened by alice; its id and contribution deadline."""
    call = chain.registry.functions.openCeremony(CIRCUIT, PHASE1, key_hash("initial"), window, NAME)
    (event,) = events(chain.registry, "CeremonyOpened", send(chain.w3, call, chain.alice.address))
    assert event["name"] == NAME  # contributors find the ceremony by it
    return int(event["ceremonyId"]), int(event["contributionDeadline"])


def contribute(chain: Deployment, ceremony_id: int, before: bytes, after: str) -> Any:
    return chain.registry.functions.contribute(
        ceremony_id, before, key_hash(after), contribution_hash(after)
    )


def test_contributions_are_recorded_in_order_with_a_chained_transcript(chain: Deployment) -> None:
    ceremony_id, deadline = open_ceremony(chain)
    assert deadline == now(chain.w3) + WINDOW
    opened = record(chain, ceremony_id)
    assert (opened["coordinator"], opened["circuit"], opened["phase1"]) == (
        chain.alice.address, CIRCUIT, PHASE1
    )  # fmt: skip
    assert opened["initial"] == opened["latest"] == opened["transcript"] == key_hash("initial")
    transcript, before = key_hash("initial"), key_hash("initial")
    for index, who in enumerate((chain.alice, chain.bob, chain.carol), start=1):
        call = contribute(chain, ceremony_id, before, who.address)
        receipt = send(chain.w3, call, who.address)
        (event,) = events(chain.registry, "ContributionRecorded", receipt)
        assert (event["index"], event["contributor"], event["predecessorSha256"]) == (
            index, who.address, before
        )  # fmt: skip
        assert (event["keySha256"], event["contributionHash"]) == (
            key_hash(who.address), contribution_hash(who.address)
        )  # fmt: skip
        assert gas_cost(receipt) > 0
        assert receipt["gasUsed"] < 80_000
        fields = [transcript, who.address, key_hash(who.address), contribution_hash(who.address)]
        transcript = keccak(encode(["bytes32", "address", "bytes32", "bytes"], fields))
        before = key_hash(who.address)
    done = record(chain, ceremony_id)
    assert (done["contributions"], done["latest"], done["transcript"]) == (3, before, transcript)
    assert chain.registry.functions.ceremonyCount().call() == ceremony_id


def test_two_contributors_racing_for_one_predecessor_one_is_told_to_rebase(
    chain: Deployment,
) -> None:
    """Both transactions land in one block: the first is recorded, the second reverts with
    StalePredecessor naming the key to build on, and succeeds on that key."""
    ceremony_id, _ = open_ceremony(chain)
    initial, w3 = key_hash("initial"), chain.w3
    rpc(w3, "evm_setAutomine", [False])
    try:
        first = contribute(chain, ceremony_id, initial, "bob").transact(
            {"from": chain.bob.address, "gas": 200_000}
        )
        second = contribute(chain, ceremony_id, initial, "carol").transact(
            {"from": chain.carol.address, "gas": 200_000}
        )
        rpc(w3, "evm_mine", [])
    finally:
        rpc(w3, "evm_setAutomine", [True])
    won, lost = (w3.eth.get_transaction_receipt(h) for h in (first, second))
    assert won["blockNumber"] == lost["blockNumber"]
    assert (won["status"], lost["status"]) == (1, 0)
    latest = assert_mined_reverts(chain.registry, "StalePredecessor", lost)
    assert latest == key_hash("bob")
    send(w3, contribute(chain, ceremony_id, latest, "carol"),
         chain.carol.address)  # fmt: skip
    assert record(chain, ceremony_id)["contributions"] == 2


def test_malformed_contributions_and_openings_are_refused(chain: Deployment) -> None:
    ceremony_id, _ = open_ceremony(chain)
    reg, initial, dave = chain.registry, key_hash("initial"), chain.dave.address

    def attempt(cid: int, before: bytes, after: bytes, digest: bytes) -> Callable[[], object]:
        return lambda: reg.functions.contribute(cid, before, after, digest).transact({"from": dave})

    good = contribution_hash("dave")
    assert_reverts(reg, "UnknownCeremony", attempt(99, initial, key_hash("dave"), good))
    assert_reverts(
        reg, "StalePredecessor", attempt(ceremony_id, key_hash("x"), key_hash("d"), good)
    )
    assert_reverts(reg, "BadKeyHash", attempt(ceremony_id, initial, bytes(32), good))
    assert_reverts(reg, "BadKeyHash", attempt(ceremony_id, initial, initial, good))
    args = assert_reverts(reg, "BadContributionHash",
                          attempt(ceremony_id, initial, key_hash("d"), good[:63]))  # fmt: skip
    assert int.from_bytes(args, "big") == 63
    opening = reg.functions.openCeremony(CIRCUIT, PHASE1, bytes(32), 1, NAME)
    assert_reverts(reg, "BadKeyHash", lambda: opening.transact({"from": dave}))
    too_long = reg.functions.openCeremony(CIRCUIT, PHASE1, initial, 30 * 86400 + 1, NAME)
    assert_reverts(reg, "BadContributionWindow", lambda: too_long.transact({"from": dave}))
    for name, length in (("", 0), ("n" * 65, 65), ("é" * 33, 66)):  # bytes, not characters
        bad = reg.functions.openCeremony(CIRCUIT, PHASE1, initial, 1, name)
        args = assert_reverts(reg, "BadName", lambda b=bad: b.transact({"from": dave}))
        assert int.from_bytes(args, "big") == length
    longest = reg.functions.openCeremony(CIRCUIT, PHASE1, initial, 1, "é" * 32)  # 64 bytes
    (event,) = events(reg, "CeremonyOpened", send(chain.w3, longest, dave))
    assert event["name"] == "é" * 32
    assert record(chain, ceremony_id)["contributions"] == 0


def test_the_window_closes_on_its_last_second_and_the_beacon_is_a_later_block_hash(
    chain: Deployment,
) -> None:
    ceremony_id, deadline = open_ceremony(chain)
    reg, w3, bob = chain.registry, chain.w3, chain.bob.address
    close = reg.functions.closeCeremony(ceremony_id)
    assert_mined_reverts(reg, "ContributionsOpen", transact_at(w3, deadline, close, bob))
    initial = key_hash("initial")
    last_second = contribute(chain, ceremony_id, initial, "bob")
    assert transact_at(w3, deadline, last_second, bob)["status"] == 1  # the deadline is in
    late = contribute(chain, ceremony_id, key_hash("bob"), "late")
    assert_mined_reverts(reg, "ContributionsClosed", transact_at(w3, deadline + 1, late, bob))
    beacon = reg.functions.beaconOf(ceremony_id)
    assert_reverts(reg, "BeaconUnavailable", beacon.call)
    closed = transact(w3, close, bob)  # anyone may close
    (event,) = events(reg, "CeremonyClosed", closed)
    assert event["beaconBlock"] == closed["blockNumber"] + 1
    assert_reverts(reg, "AlreadyClosed", lambda: close.transact({"from": bob}))
    assert_reverts(reg, "BeaconUnavailable", beacon.call)  # not mined yet: nobody knows it
    rpc(w3, "evm_mine", [])  # the beacon block
    assert_reverts(reg, "BeaconUnavailable", beacon.call)  # a block cannot read its own hash
    rpc(w3, "evm_mine", [])
    assert beacon.call() == w3.eth.get_block(event["beaconBlock"])["hash"]
    assert record(chain, ceremony_id)["beacon_block"] == event["beaconBlock"]


def test_an_expired_beacon_is_fixed_again_by_closing_again(chain: Deployment) -> None:
    ceremony_id, deadline = open_ceremony(chain, window=0)
    reg, w3, bob = chain.registry, chain.w3, chain.bob.address
    closed = transact_at(w3, deadline + 1, reg.functions.closeCeremony(ceremony_id), bob)
    first = closed["blockNumber"] + 1
    rpc(w3, "anvil_mine", [hex(258)])  # the beacon block is now 257 blocks back
    assert_reverts(reg, "BeaconUnavailable", reg.functions.beaconOf(ceremony_id).call)
    again = send(w3, reg.functions.closeCeremony(ceremony_id), bob)
    (event,) = events(reg, "CeremonyClosed", again)
    assert event["beaconBlock"] == again["blockNumber"] + 1 > first


def _finalize(
    chain: Deployment, ceremony_id: int, final: bytes, key: bytes, included: int = 0
) -> Any:
    return chain.registry.functions.finalizeCeremony(
        ceremony_id, included, final, b"\x0a" * 32, b"\x0c" * 32, 1, 77, key
    )


def test_only_the_coordinator_finalizes_once_from_the_beacon(chain: Deployment) -> None:
    ceremony_id, deadline = open_ceremony(chain, window=0)
    reg, w3, alice = chain.registry, chain.w3, chain.alice.address
    key, final = TrapdoorKey(1).key_bytes, key_hash("final")
    latest = record(chain, ceremony_id)["latest"]
    early = _finalize(chain, ceremony_id, final, key)
    assert_reverts(reg, "BeaconUnavailable", lambda: early.transact({"from": alice}))
    closed = transact_at(w3, deadline + 1, reg.functions.closeCeremony(ceremony_id), alice)
    beacon_block = closed["blockNumber"] + 1
    rpc(w3, "anvil_mine", [hex(2)])
    finalize = _finalize(chain, ceremony_id, final, key)
    args = assert_reverts(reg, "NotCoordinator",
                          lambda: finalize.transact({"from": chain.bob.address}))  # fmt: skip
    assert int.from_bytes(args[:32], "big") == ceremony_id
    stale = _finalize(chain, ceremony_id, latest, key)
    assert_reverts(reg, "BadKeyHash", lambda: stale.transact({"from": alice}))
    unrecorded = _finalize(chain, ceremony_id, final, key, included=1)
    args = assert_reverts(reg, "UnrecordedContributions",
                          lambda: unrecorded.transact({"from": alice}))  # fmt: skip
    assert (int.from_bytes(args[:32], "big"), int.from_bytes(args[32:], "big")) == (1, 0)
    degenerate = _finalize(chain, ceremony_id, final, bytes(len(key)))
    assert_reverts(reg, "KeyPointAtInfinity", lambda: degenerate.transact({"from": alice}))
    receipt = send(w3, finalize, alice)
    (registered,) = events(reg, "ModelRegistered", receipt)
    (finalized,) = events(reg, "CeremonyFinalized", receipt)
    model_id = int(registered["modelId"])
    beacon = w3.eth.get_block(beacon_block)["hash"]
    assert (finalized["ceremonyId"], finalized["modelId"]) == (ceremony_id, model_id)
    assert (finalized["beacon"], finalized["finalKeySha256"]) == (beacon, final)
    assert finalized["included"] == 0
    model = reg.functions.getModel(model_id).call()
    assert model[0] == alice
    assert model[6] == CIRCUIT
    assert tuple(model[8:]) == (ceremony_id, beacon, final)
    assert reg.functions.verifyingKeyOf(model_id).call() == key
    assert record(chain, ceremony_id)["model_id"] == model_id
    args = assert_reverts(reg, "AlreadyFinalized", lambda: finalize.transact({"from": alice}))
    assert int.from_bytes(args[32:], "big") == model_id


def test_a_plain_registration_has_no_ceremony_and_takes_no_jobs(chain: Deployment) -> None:
    """dave publishes a key without a ceremony (he may hold its toxic waste): the registry
    records it with no ceremony, and a requester who names it keeps its escrow (pays gas only)
    while every ceremony model takes the same job."""
    reg, market, w3 = chain.registry, chain.market, chain.w3
    circuit = chain.circuits[3]
    key, size = vk_bytes(circuit.vk_words), circuit.r1cs.n_constraints
    plain = reg.functions.registerModel(b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32, 3, size, key)
    model_id = int(plain.call({"from": chain.dave.address}))
    send(w3, plain, chain.dave.address)
    assert tuple(reg.functions.getModel(model_id).call()[8:]) == (0, bytes(32), bytes(32))
    alice, commitment = chain.alice.address, circuit.statements[0].commitment
    jobs = market.functions.jobCount().call()
    before = w3.eth.get_balance(alice), w3.eth.get_balance(market.address)
    create = market.functions.createJob(model_id, commitment, COLLATERAL, 600, 1800)
    refused = transact(w3, create, alice, MAX_FEE)
    args = assert_mined_reverts(market, "ModelNotFromCeremony", refused)
    assert int.from_bytes(args[:32], "big") == model_id
    assert w3.eth.get_balance(alice) == before[0] - gas_cost(refused)
    assert w3.eth.get_balance(market.address) == before[1]
    assert market.functions.jobCount().call() == jobs
    assert reg.functions.getModel(chain.models[3]).call()[8] != 0  # the fixture's model
    assert chain.create_job(3) == jobs + 1
