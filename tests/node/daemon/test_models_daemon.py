"""Model registration and fetching between two real daemons on the session's anvil.

alice registers the digits MLP with ``model register``; the registry holds its
hashes and verifying key; bob learns it from the ModelRegistered event and from
alice's announcement, fetches it from alice's node (``POST /models/{id}/fetch``)
and holds an identical copy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from node.anvil import AnvilProcess
from node.api.client import ApiClient
from node.chain.contracts import load_artifact
from node.chain.deploy import Deployment
from node.exit_codes import OK, UNAVAILABLE
from protocol.groth16 import snarkjs
from protocol.groth16.calldata import vk_to_evm_words, words_to_bytes
from tests.node.daemon.harness import (
    ROOT,
    alice_and_bob,
    blocks_every_second,
    cli_json,
    register,
    running,
    wait_for,
    wait_until_up,
)

ONNX = ROOT / "devnet" / "models" / "digits_mlp.onnx"
SAMPLES = ROOT / "devnet" / "models" / "digits_mlp_calibration.npy"
REGISTRY_ABI = load_artifact("ModelRegistry").abi

pytestmark = pytest.mark.slow


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_alice_registers_and_bob_fetches_the_digits_mlp(
    anvil: AnvilProcess,
    w3: Web3,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ptau: Path,
) -> None:
    deployed, path = deployment
    alice, bob = alice_and_bob(tmp_path, path, anvil.rpc_url, capsys)
    capsys.readouterr()
    assert alice.cli("model", "list") == UNAVAILABLE  # no daemon yet
    with running(alice, bob), blocks_every_second(anvil):  # the ceremony's window, its beacon
        for home in (alice, bob):
            wait_until_up(home, capsys)

        model = register(alice, capsys, str(ONNX), "digits", ptau,
                         "--calibration", str(SAMPLES))  # fmt: skip
        model_id, folder = model["id"], Path(model["dir"])
        assert folder == alice.root / "models" / str(model_id)

        # On-chain: alice owns it, with the files' hashes and the setup's verifying key.
        registry = w3.eth.contract(address=deployed.address("ModelRegistry"), abi=REGISTRY_ABI)
        owner, constraints, n_public, deprecated, _, onnx, circuit, manifest, *ceremony = (
            registry.functions.getModel(model_id).call()
        )
        assert (owner, deprecated) == (alice.address, False)
        assert ceremony[0] == model["ceremony"]["id"] != 0  # its key comes from a ceremony
        assert (onnx.hex(), sha256(ONNX)) == (sha256(folder / "model.onnx"), model["onnx_sha256"])
        assert circuit.hex() == sha256(folder / "circuit.r1cs") == model["circuit_hash"]
        assert manifest.hex() == sha256(folder / "manifest.json") == model["manifest_hash"]
        facts = json.loads((folder / "manifest.json").read_bytes())
        assert (constraints, n_public) == (facts["constraints"], len(facts["public_signals"]))
        vk = snarkjs.vk_from_json(json.loads((folder / "verification_key.json").read_bytes()))
        key = registry.functions.verifyingKeyOf(model_id).call()
        assert bytes(key) == words_to_bytes(vk_to_evm_words(vk))
        capsys.readouterr()
        assert alice.cli("model", "list") == OK
        assert f"{model_id}  digits" in capsys.readouterr().out
        assert alice.cli("model", "show", "nonesuch") != OK
        assert "no model 'nonesuch'" in capsys.readouterr().err
        shown = cli_json(alice, capsys, "model", "show", "digits")
        assert (shown["id"], shown["held"], shown["chain"]["owner"]) == (model_id, True, owner)

        # bob knows it from the event, and hears alice's announcement.
        def bob_heard() -> dict[str, Any] | None:
            capsys.readouterr()
            if bob.cli("model", "show", str(model_id), "--json") != OK:
                return None
            answer: dict[str, Any] = json.loads(capsys.readouterr().out)
            return answer if answer["announced_by"] else None

        heard = wait_for(bob_heard, 20, f"bob to hear of model {model_id}\n{bob.log()}")
        assert (heard["held"], heard["name"], heard["announced_by"]) == (
            False, "digits", [alice.peer_id],
        )  # fmt: skip
        fetched = ApiClient.for_home(bob.root, timeout_s=60).post(f"/models/{model_id}/fetch", {})
        copy = Path(fetched["dir"])
        assert copy == bob.root / "models" / str(model_id)
        assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in folder.iterdir())
        for original in folder.iterdir():
            assert sha256(copy / original.name) == sha256(original), original.name
        listed = cli_json(bob, capsys, "model", "list")
        assert [(m["id"], m["held"]) for m in listed] == [(model_id, True)]
