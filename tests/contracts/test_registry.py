"""ModelRegistry: registration, the key data contract, deprecation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocol.bn254.fields import P
from tests.contracts.chain import assert_reverts, events, send
from tests.contracts.deployment import Deployment, vk_bytes

pytestmark = pytest.mark.slow


def test_registration_stores_the_record_and_the_key(chain: Deployment) -> None:
    circuit = chain.circuits[11]
    model_id = chain.models[11]
    owner, constraints, n_public, deprecated, key, onnx, circ, manifest, *ceremony = (
        chain.registry.functions.getModel(model_id).call()
    )
    assert (owner, constraints, n_public, deprecated) == (
        chain.deployer.address,
        circuit.r1cs.n_constraints,
        11,
        False,
    )
    assert (onnx, circ, manifest) == (b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    ceremony_id, beacon, final_key = ceremony  # the fixture's models come from ceremonies
    assert ceremony_id != 0
    assert final_key == b"\x06" * 32
    record = chain.registry.functions.getCeremony(ceremony_id).call()
    assert record[-1] == model_id  # the ceremony names the model it finalized
    assert beacon == chain.registry.functions.beaconOf(ceremony_id).call()
    assert chain.registry.functions.verifyingKeyOf(model_id).call() == vk_bytes(circuit.vk_words)
    code = chain.w3.eth.get_code(key)
    assert code == b"\x00" + vk_bytes(circuit.vk_words)  # STOP byte: the key cannot be called
    assert chain.registry.functions.modelCount().call() == len(chain.circuits)


def test_registration_is_permissionless_and_emits(chain: Deployment) -> None:
    call = chain.registry.functions.registerModel(
        b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32, 1, 2, vk_bytes(chain.circuits[1].vk_words)
    )
    receipt = send(chain.w3, call, chain.dave.address)
    (event,) = events(chain.registry, "ModelRegistered", receipt)
    assert event["owner"] == chain.dave.address
    assert event["modelId"] == len(chain.circuits) + 1


def test_malformed_keys_are_refused(chain: Deployment) -> None:
    reg, words = chain.registry, list(chain.circuits[3].vk_words)
    dave = chain.dave.address

    def register(n_public: int, key: bytes) -> Callable[[], object]:
        return lambda: reg.functions.registerModel(
            b"\x00" * 32, b"\x00" * 32, b"\x00" * 32, n_public, 1, key
        ).transact({"from": dave})

    assert_reverts(reg, "BadKeyLength", register(2, vk_bytes(words)))
    assert_reverts(reg, "BadKeyLength", register(3, vk_bytes(words)[:-1]))
    assert_reverts(reg, "BadPublicSignalCount", register(0, vk_bytes(words[:16])))
    assert_reverts(reg, "BadPublicSignalCount", register(376, b""))
    words[5] = P
    args = assert_reverts(reg, "KeyCoordinateOutOfField", register(3, vk_bytes(words)))
    assert int.from_bytes(args, "big") == 5


G2_WORDS = (  # the G2 generator as the key stores it: x.c1, x.c0, y.c1, y.c0
    11559732032986387107991004021392285783925812861821192530917403151452391805634,
    10857046999023057135944570762232829481370756359578518086990519993285655852781,
    4082367875863433681332203403145435568316851327593401208105741076214120093531,
    8495653923123431417604973247489272438418190587263600148770280649306958101930,
)


def test_degenerate_keys_are_refused(chain: Deployment) -> None:
    """Keys that let anyone forge from the public key alone never get registered."""
    reg, good = chain.registry, list(chain.circuits[3].vk_words)
    n_points = 4 + 3 + 1

    def register(words: list[int]) -> Callable[[], object]:
        return lambda: reg.functions.registerModel(
            b"\x00" * 32, b"\x00" * 32, b"\x00" * 32, 3, 1, vk_bytes(words)
        ).transact({"from": chain.dave.address})

    spans = [(0, 2), (2, 6), (6, 10), (10, 14)] + [(14 + 2 * j, 16 + 2 * j) for j in range(4)]
    assert len(spans) == n_points
    for index, (first, end) in enumerate(spans):
        words = list(good)
        words[first:end] = [0] * (end - first)
        args = assert_reverts(reg, "KeyPointAtInfinity", register(words))
        assert int.from_bytes(args, "big") == index
        words[first] = 1  # one nonzero word is not infinity (the precompiles judge the rest)
        send(chain.w3, reg.functions.registerModel(
            b"\x00" * 32, b"\x00" * 32, b"\x00" * 32, 3, 1, vk_bytes(words)
        ), chain.dave.address)  # fmt: skip
    words = list(good)
    words[10:14] = words[6:10]
    assert_reverts(reg, "GammaEqualsDelta", register(words))
    words = list(good)
    words[10:14] = list(G2_WORDS)
    assert_reverts(reg, "DeltaIsGenerator", register(words))
    words[6:10] = list(G2_WORDS)  # gamma = delta = generator: refused as equal first
    assert_reverts(reg, "GammaEqualsDelta", register(words))
    words[6:10] = good[6:10]
    words[13] += 1  # one word off the generator
    send(chain.w3, reg.functions.registerModel(
        b"\x00" * 32, b"\x00" * 32, b"\x00" * 32, 3, 1, vk_bytes(words)
    ), chain.dave.address)  # fmt: skip
    words = list(good)
    words[6:10] = list(G2_WORDS)  # gamma the generator, as in snarkjs keys (BGM17): accepted
    send(chain.w3, reg.functions.registerModel(
        b"\x00" * 32, b"\x00" * 32, b"\x00" * 32, 3, 1, vk_bytes(words)
    ), chain.dave.address)  # fmt: skip


def test_only_the_owner_deprecates_once(chain: Deployment) -> None:
    reg, model_id = chain.registry, chain.models[1]
    assert_reverts(
        reg,
        "NotModelOwner",
        lambda: reg.functions.deprecateModel(model_id).transact({"from": chain.dave.address}),
    )
    receipt = send(chain.w3, reg.functions.deprecateModel(model_id), chain.deployer.address)
    assert events(reg, "ModelDeprecated", receipt) == [{"modelId": model_id}]
    assert reg.functions.getModel(model_id).call()[3] is True
    assert_reverts(
        reg,
        "ModelAlreadyDeprecated",
        lambda: reg.functions.deprecateModel(model_id).transact({"from": chain.deployer.address}),
    )
    assert_reverts(
        reg,
        "UnknownModel",
        lambda: reg.functions.deprecateModel(77).transact({"from": chain.deployer.address}),
    )
