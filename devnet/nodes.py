"""The devnet's nodes: homes made by ``node init``, daemons as processes, readiness, stake.

Node 0 is the requester, the bootstrap peer and the demo model's owner; the others
are provers, each with its own price (``prover.price_per_1k_constraints`` rising
with its number, so the cheapest bid is visibly node 1's). Every node has a fresh
key whose keystore is encrypted with the devnet's generated password
(``DIR/keystore.password``, mode 0600), its own libp2p port and data directory.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from devnet.chain import tail
from devnet.state import NODE_LOG, PASSWORD_FILE, NodeEntry, ProcessRecord, is_running
from node.anvil import free_port
from node.api.client import ApiClient, ClientError
from node.cli import main as provernet
from node.config import render_config
from node.exit_codes import FAILED, OK, CliError
from node.home import HomeLayout, write_secret
from node.keys import PASSWORD_ENV

# One step of prover price: node k asks k x 0.0005 ETH per 1,000 constraints, so the
# demo model (2,734 constraints) costs node 1 about 0.0014 ETH, node 2 twice that.
PRICE_STEP_WEI = 5 * 10**14
STAKE = "1eth"
DEMO_MODEL = "digits_mlp"
# A devnet's single anvil never reorganises: act on events at once, poll twice a block.
DEVNET_SETTINGS: Mapping[str, object] = {"chain.confirmations": 0, "chain.poll_interval": "0.5s"}
# Starting a daemon loads web3, libp2p and the prover's worker pool: seconds per node on
# two cores; a generous bound before a node is declared failed.
READY_TIMEOUT_S = 120.0
# Registering compiles the model, runs its ceremony (initial key, three contributions,
# the window, the beacon, verification) and registers the final key.
REGISTER_TIMEOUT_S = 300.0
# How long the demo model's ceremony takes contributions: the registrant's and two
# provers' take a few seconds each on two cores.
CONTRIBUTION_WINDOW_S = 30
# A prover fetching the demo model verifies its whole transcript (phase 1, three
# contributions, the beacon): seconds each, longer with many provers on two cores.
FETCH_TIMEOUT_S = 300.0
# The devnet's phase 1 (generated once per devnet, single-party: devnets only): 2^12
# covers the demo model's 2,734 constraints.
DEVNET_PTAU_POWER = 12


@dataclass(frozen=True)
class ModelFiles:
    """The demo model's files, shipped as package data of devnet.models."""

    onnx: Path
    calibration: Path
    input: Path
    label: int | None  # the sample input's true class, from the models' manifest.json


def demo_model_files(name: str = DEMO_MODEL) -> ModelFiles:
    """Where the demo model's ONNX file, calibration samples and sample input are."""
    base = Path(str(resources.files("devnet.models")))
    files = ModelFiles(
        base / f"{name}.onnx",
        base / f"{name}_calibration.npy",
        base / f"{name}_input.json",
        _sample_label(base / "manifest.json", name),
    )
    for path in (files.onnx, files.calibration, files.input):
        if not path.is_file():
            raise CliError(f"the demo model file {path} is missing (a broken install?)", FAILED)
    return files


def _sample_label(manifest: Path, name: str) -> int | None:
    try:
        models = json.loads(manifest.read_text())["models"]
        return next(int(m["sample_input"]["label"]) for m in models if m["name"] == name)
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


def role_of(index: int) -> str:
    return "requester" if index == 0 else "prover"


def price_of(index: int) -> int:
    """Node ``index``'s price in wei per 1,000 constraints (0 for the requester)."""
    return index * PRICE_STEP_WEI


def init_node(
    directory: Path, index: int, rpc_url: str, deployment: Path, bootstrap: Sequence[str]
) -> NodeEntry:
    """``node init`` node ``index``'s home with a fresh key; its entry."""
    name, port = f"node{index}", free_port()
    home = directory / "nodes" / name
    args = ["--home", str(home), "node", "init", "--rpc-url", rpc_url,
            "--deployment", str(deployment), "--role", role_of(index),
            "--listen", f"/ip4/127.0.0.1/tcp/{port}",
            "--password-file", str(directory / PASSWORD_FILE), "--json"]  # fmt: skip
    if bootstrap:
        args += ["--bootstrap", *bootstrap]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = provernet(args)
    if code != OK:
        raise CliError(f"`node init` failed for {name} (exit code {code})", code)
    report = json.loads(out.getvalue())
    entry = NodeEntry(name, str(home), role_of(index), report["address"], report["peer_id"], port,
                      price_of(index))  # fmt: skip
    configure(
        home, {**DEVNET_SETTINGS, "prover.price_per_1k_constraints": entry.price_per_1k_constraints}
    )
    return entry


def configure(home: Path, settings: Mapping[str, object]) -> None:
    """Rewrite ``home``/config.toml with ``settings`` (dotted names) on top of its values."""
    path = HomeLayout(home).config
    values: dict[str, Any] = {}
    for section, table in tomllib.loads(path.read_text()).items():
        values |= {f"{section}.{key}": value for key, value in table.items()}
    write_secret(path, render_config({**values, **settings}).encode())


def node_argv(home: str) -> list[str]:
    """The command line of a node's daemon."""
    return [sys.executable, "-m", "node.cli", "--home", home, "node", "run"]


def node_env() -> dict[str, str]:
    """The daemons' environment: ours, without a home or password that would override theirs."""
    return {k: v for k, v in os.environ.items() if k not in ("PROVERNET_HOME", PASSWORD_ENV)}


def node_log(entry: NodeEntry) -> Path:
    return Path(entry.home) / NODE_LOG


def status_of(entry: NodeEntry) -> dict[str, Any] | None:
    """The node's ``GET /status`` answer, or None while it does not answer."""
    try:
        answer: dict[str, Any] = ApiClient.for_home(Path(entry.home), timeout_s=5).get("/status")
    except ClientError:
        return None
    return answer


def _is_ready(status: Mapping[str, Any] | None, min_peers: int) -> bool:
    if status is None or status.get("ready") is not True:
        return False
    return int(status.get("node", {}).get("peers", 0)) >= min_peers


def wait_ready(
    nodes: Sequence[tuple[NodeEntry, ProcessRecord]],
    min_peers: Callable[[NodeEntry], int],
    report: Callable[[str], None],
    timeout_s: float = READY_TIMEOUT_S,
) -> None:
    """Wait until every node answers, has synced the chain and has ``min_peers`` peers."""
    waiting = dict((entry.name, (entry, record)) for entry, record in nodes)
    deadline = time.monotonic() + timeout_s
    while waiting:
        for name, (entry, record) in list(waiting.items()):
            if not is_running(record):
                raise CliError(_failure(entry, "exited during start-up"), FAILED)
            status = status_of(entry)
            if _is_ready(status, min_peers(entry)):
                assert status is not None
                node = status["node"]
                report(f"  {name} ready: {node['peers']} peers, block {node['processed_block']}, "
                       f"pid {record.pid}")  # fmt: skip
                del waiting[name]
        if waiting and time.monotonic() > deadline:
            entry = next(iter(waiting.values()))[0]
            raise CliError(_failure(entry, f"was not ready within {timeout_s:g} s"), FAILED)
        if waiting:
            time.sleep(0.25)


def _failure(entry: NodeEntry, what: str) -> str:
    log = node_log(entry)
    return f"{entry.name} {what}; the end of {log}:\n{tail(log)}"


def stake(entry: NodeEntry, amount: str = STAKE) -> str:
    """Deposit ``amount`` of stake through the node's daemon; the transaction hash."""
    client = ApiClient.for_home(Path(entry.home), timeout_s=180)
    try:
        answer = client.post("/stake/deposit", {"amount": amount})
    except ClientError as exc:
        raise CliError(f"{entry.name} could not deposit its stake: {exc}", FAILED) from exc
    return str(answer.get("tx"))


def register_model(
    entry: NodeEntry,
    files: ModelFiles,
    name: str,
    ptau: Path,
    contributors: Sequence[NodeEntry] = (),
    report: Callable[[str], None] = lambda _line: None,
    reveal: str = "logits",
) -> dict[str, Any]:
    """Register the model through ``entry``'s daemon with a setup ceremony from ``ptau``:
    the registrant contributes, then each of ``contributors`` does, then the beacon.
    ``reveal`` is what the circuit makes public (``circuit compile --reveal``)."""
    client = ApiClient.for_home(Path(entry.home), timeout_s=30)
    body = {"onnx": str(files.onnx), "name": name, "calibration": str(files.calibration),
            "ptau": str(ptau), "contribution_window": CONTRIBUTION_WINDOW_S}  # fmt: skip
    if reveal != "logits":
        body["reveal"] = reveal
    try:
        rid = client.post("/models", body)["registration"]
        deadline = time.monotonic() + REGISTER_TIMEOUT_S
        for event in client.watch(f"/models/registrations/{rid}", timeout_s=20):
            if event["stage"] == "failed":
                raise CliError(f"registering {name} failed: {event['error']}", FAILED)
            if event["stage"] == "done":
                model: dict[str, Any] = event["model"]
                return model
            if event.get("step") == "opened":
                report(f"  ceremony {event['ceremony_id']} opened; contributions for "
                       f"{CONTRIBUTION_WINDOW_S} s")  # fmt: skip
            if event.get("step") == "contributed":
                report(f"  {entry.name} contributed (#{event['index']})")
                for other in contributors:
                    made = contribute(other, int(event["ceremony_id"]))
                    report(f"  {other.name} contributed (#{made['index']})")
                report("  waiting for the window to end and the beacon block ...")
            if time.monotonic() > deadline:
                break
    except ClientError as exc:
        raise CliError(f"registering {name} on {entry.name} failed: {exc}", FAILED) from exc
    raise CliError(f"registering {name} on {entry.name} did not finish", FAILED)


def fetch_model(entry: NodeEntry, model_id: int) -> dict[str, Any]:
    """Have ``entry``'s daemon fetch model ``model_id`` and verify its ceremony transcript
    (what a prover does before its first bid); the model as the daemon holds it."""
    client = ApiClient.for_home(Path(entry.home), timeout_s=FETCH_TIMEOUT_S)
    try:
        held: dict[str, Any] = client.post(f"/models/{model_id}/fetch", {})
    except ClientError as exc:
        raise CliError(f"{entry.name} could not fetch model {model_id}: {exc}", FAILED) from exc
    return held


def contribute(entry: NodeEntry, ceremony_id: int) -> dict[str, Any]:
    """``entry``'s contribution to ceremony ``ceremony_id``, once recorded."""
    client = ApiClient.for_home(Path(entry.home), timeout_s=30)
    try:
        body = {"ceremony": ceremony_id, "name": entry.name}
        rid = client.post("/ceremonies/contributions", body)["contribution"]
        for event in client.watch(f"/ceremonies/contributions/{rid}", timeout_s=20):
            if event["stage"] == "failed":
                raise CliError(f"{entry.name} could not contribute: {event['error']}", FAILED)
            if event["stage"] == "done":
                done: dict[str, Any] = event
                return done
    except ClientError as exc:
        raise CliError(f"{entry.name} could not contribute: {exc}", FAILED) from exc
    raise CliError(f"{entry.name}'s contribution did not finish", FAILED)
