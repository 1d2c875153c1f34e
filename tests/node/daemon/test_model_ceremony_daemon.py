"""A model registered from an on-chain ceremony, between two real daemons on anvil.

alice writes a phase 1, registers the Gemm model with ``model register --ptau`` (its
ceremony opened, contributed to, closed and finalized on-chain); bob fetches the model
and verifies its transcript against the registry before holding it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from node.anvil import AnvilProcess
from node.api.client import ApiClient
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment
from node.exit_codes import OK, USAGE
from node.keys import dev_account
from tests.node.daemon.harness import (
    alice_and_bob,
    blocks_every_second,
    cli_json,
    init_home,
    running,
    wait_for,
    wait_until_up,
)

pytestmark = pytest.mark.slow


def test_a_ceremony_model_is_registered_and_verified_by_its_fetcher(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed, path = deployment
    alice, bob = alice_and_bob(tmp_path, path, anvil.rpc_url, capsys)
    ptau = tmp_path / "pot9.ptau"
    assert alice.cli("ceremony", "ptau", "new", "--power", "9", "--out", str(ptau)) == OK
    capsys.readouterr()
    # The window closes by the chain's clock and the beacon is a later block's hash: blocks
    # come every second, as on a live chain.
    with blocks_every_second(anvil), running(alice, bob):
        for home in (alice, bob):
            wait_until_up(home, capsys)
        bad = alice.cli("model", "register", str(gemm_onnx), "--name", "gemm", "--ptau",
                        str(ptau), "--contribution-window", "soon")  # fmt: skip
        assert bad == USAGE
        assert "--contribution-window 'soon' is not a duration" in capsys.readouterr().err
        model = cli_json(alice, capsys, "model", "register", str(gemm_onnx), "--name", "gemm",
                         "--ptau", str(ptau), "--contribution-window", "2s")  # fmt: skip
        model_id = model["id"]
        assert model["ceremony"]["verified"] is True
        assert model["ceremony"]["contributors"] == [alice.address]

        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(1))
        info = chain.get_model(model_id)
        record = chain.get_ceremony(info.ceremony_id)
        assert (record.model_id, record.contributions) == (model_id, 1)
        [made] = chain.ceremony_contributions(info.ceremony_id)
        assert made.contributor == alice.address
        assert made.key_sha256 != info.final_key_sha256  # the beacon comes after it

        def bob_heard() -> dict[str, Any] | None:
            capsys.readouterr()
            if bob.cli("model", "show", str(model_id), "--json") != OK:
                return None
            answer: dict[str, Any] = json.loads(capsys.readouterr().out)
            return answer if answer["announced_by"] else None

        heard = wait_for(bob_heard, 20, f"bob to hear of model {model_id}\n{bob.log()}")
        assert heard["ceremony"] == {"id": info.ceremony_id, "verified": False,
                                     "contributors": None}  # fmt: skip
        ApiClient.for_home(bob.root, timeout_s=120).post(f"/models/{model_id}/fetch", {})
        shown = cli_json(bob, capsys, "model", "show", str(model_id))
        assert shown["ceremony"] == {"id": info.ceremony_id, "verified": True,
                                     "contributors": [alice.address]}  # fmt: skip
        capsys.readouterr()
        assert bob.cli("model", "show", str(model_id)) == OK
        assert f"ceremony {info.ceremony_id}, verified; contributors: {alice.address}" in (
            capsys.readouterr().out
        )


def test_other_nodes_contribute_and_a_withheld_key_is_left_out(
    anvil: AnvilProcess,
    deployment: tuple[Deployment, Path],
    tmp_path: Path,
    gemm_onnx: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """alice opens a ceremony; bob and carol (each connected only to alice) contribute
    with ``model contribute`` (bob by id, carol by the model's name); dave records a key
    he never serves. alice's final key includes alice, bob and carol, and bob's fetch
    verifies exactly those."""
    deployed, path = deployment
    alice, bob = alice_and_bob(tmp_path, path, anvil.rpc_url, capsys)
    carol = init_home(tmp_path, "carol", path, anvil.rpc_url, 3,
                      lambda: capsys.readouterr().out, [alice.multiaddr])  # fmt: skip
    ptau = tmp_path / "pot9.ptau"
    assert alice.cli("ceremony", "ptau", "new", "--power", "9", "--out", str(ptau)) == OK
    with blocks_every_second(anvil), running(alice, bob, carol):
        for home in (alice, bob, carol):
            wait_until_up(home, capsys)
        api = ApiClient.for_home(alice.root, timeout_s=60)
        body = {"onnx": str(gemm_onnx), "name": "gemm-of-three", "ptau": str(ptau),
                "contribution_window": 40}  # fmt: skip
        rid = api.post("/models", body)["registration"]
        events = api.watch(f"/models/registrations/{rid}", timeout_s=20)
        cid = next(e for e in events if e.get("step") == "opened")["ceremony_id"]
        next(e for e in events if e.get("step") == "waiting")
        capsys.readouterr()
        assert bob.cli("model", "contribute", "12345") != OK
        assert "the registry has no ceremony 12345" in capsys.readouterr().err
        for bad_ref in ("0", "-3", ""):
            assert bob.cli("model", "contribute", bad_ref) == USAGE
            assert "ceremony id" in capsys.readouterr().err
        assert bob.cli("model", "contribute", "no-such-model") != OK
        assert "no ceremony named 'no-such-model'" in capsys.readouterr().err
        wait_for(lambda: carol.cli("model", "ceremony", "gemm-of-three", "--json") == OK, 20,
                 f"carol to read the ceremony's opening\n{carol.log()}")  # fmt: skip
        for home, ref in ((bob, str(cid)), (carol, "gemm-of-three")):
            made = cli_json(home, capsys, "model", "contribute", ref, "--name", home.name)
            assert (made["stage"], made["ceremony_id"]) == ("done", cid), made
        chain = Web3Chain.open(anvil.rpc_url, deployed, dev_account(4))
        latest = chain.get_ceremony(cid).latest_key_sha256
        chain.contribute(cid, latest, os.urandom(32), os.urandom(64))
        shown = cli_json(bob, capsys, "model", "ceremony", str(cid))
        assert shown["state"] == "open"
        assert [c["contributor"] for c in shown["contributions"]] == [
            alice.address, bob.address, carol.address, chain.address
        ]  # fmt: skip
        capsys.readouterr()
        assert carol.cli("model", "ceremony", "gemm-of-three") == OK
        assert f"ceremony      {cid} (gemm-of-three)" in (out := capsys.readouterr().out)
        assert f"#3   {carol.address}" in out

        rest = list(events)
        chosen = next(e for e in rest if e.get("step") == "chosen")
        assert (chosen["included"], chosen["recorded"]) == (3, 4), chosen
        done = rest[-1]
        assert done["stage"] == "done", done
        model_id = done["model"]["id"]
        contributors = [alice.address, bob.address, carol.address]
        assert done["model"]["ceremony"]["contributors"] == contributors
        shown = cli_json(bob, capsys, "model", "ceremony", str(cid))
        assert (shown["state"], shown["included"], shown["model_id"]) == ("finalized", 3, model_id)
        capsys.readouterr()
        assert bob.cli("model", "ceremony", str(cid)) == OK
        assert f"{chain.address}  " in (out := capsys.readouterr().out)
        assert "(left out)" in out

        def bob_heard() -> bool:
            capsys.readouterr()
            if bob.cli("model", "show", str(model_id), "--json") != OK:
                return False
            return bool(json.loads(capsys.readouterr().out)["announced_by"])

        wait_for(bob_heard, 20, f"bob to hear of model {model_id}\n{bob.log()}")
        ApiClient.for_home(bob.root, timeout_s=120).post(f"/models/{model_id}/fetch", {})
        fetched = cli_json(bob, capsys, "model", "show", str(model_id))
        assert fetched["ceremony"] == {"id": cid, "verified": True, "contributors": contributors}
