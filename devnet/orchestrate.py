"""Bringing a devnet up, resuming it, stopping it and reporting on it.

``up`` on a new directory: anvil, contracts, funded node homes, daemons, stake,
the demo model, then ``devnet.json``. Anything it started is stopped again if a
later step fails (``pids.json`` records each process the moment it starts).
``up`` on a directory with a devnet: if every recorded process still runs it
says so; otherwise it restarts exactly the dead ones with their recorded
command lines (same homes, same ports). anvil reloads its chain from
``anvil-state.json``; if that file is gone, or the recorded contracts are not on
the restarted chain, ``up`` refuses and names ``devnet down --clean``: it never
deploys a second set of contracts under a devnet's nodes. A directory holding a
devnet whose ``up`` never finished is refused the same way.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet import chain, nodes
from devnet.procs import ProcessError, spawn, stop_all
from devnet.state import (
    ANVIL,
    ANVIL_LOG,
    ANVIL_STATE_FILE,
    DEPLOYMENT_FILE,
    PASSWORD_FILE,
    PIDS_FILE,
    STATE_FILE,
    DevnetState,
    NodeEntry,
    ProcessRecord,
    is_running,
    load_pids,
    save_pids,
)
from node.anvil import DEFAULT_CHAIN_ID, AnvilError, free_port
from node.artifacts import write_atomic
from node.chain.deploy import Deployment
from node.chain.errors import ChainError
from node.exit_codes import FAILED, TOOL_MISSING, USAGE, CliError
from node.home import write_secret
from node.tools import ToolError
from protocol.groth16.ptau import Phase1Secret, new_powers_of_tau

# Fresh keys funded by the deployer: any count works on the chain. Each node is a daemon of
# about 200 MiB resident (measured: requester 206 MiB; prover 148 MiB + 37 MiB for its
# worker and resource tracker), all sharing this machine's cores: sixteen take some 3 GiB.
MIN_NODES, MAX_NODES = 2, 16
DEFAULT_NODES = 4
# anvil's evm_setIntervalMining takes whole seconds.
DEFAULT_BLOCK_TIME_S = 1
MAX_BLOCK_TIME_S = 60

Report = Callable[[str], None]


@dataclass(frozen=True)
class UpResult:
    """What ``up`` did: the devnet and which processes it (re)started."""

    state: DevnetState
    started: tuple[str, ...]
    resumed: bool


def check_arguments(n_nodes: int, block_time_s: int) -> None:
    """Refuse node counts and block times the devnet does not support."""
    if not MIN_NODES <= n_nodes <= MAX_NODES:
        raise CliError(
            f"--nodes {n_nodes}: a devnet has {MIN_NODES} to {MAX_NODES} nodes "
            f"(one requester and at least one prover; at most {MAX_NODES} daemons on one machine)",
            USAGE,
        )
    if not 1 <= block_time_s <= MAX_BLOCK_TIME_S:
        raise CliError(
            f"--block-time {block_time_s}: give a whole number of seconds from 1 to "
            f"{MAX_BLOCK_TIME_S}",
            USAGE,
        )


def up(directory: Path, n_nodes: int | None, block_time_s: int | None, report: Report) -> UpResult:
    """Bring the devnet in ``directory`` up: a new one, or the recorded one resumed."""
    directory = directory.absolute()
    if (directory / STATE_FILE).exists():
        return _resume(directory, n_nodes, block_time_s, report)
    if (directory / PIDS_FILE).exists() or (directory / "nodes").exists():
        raise CliError(
            f"{directory} holds a devnet whose `up` did not finish; remove it with "
            f"`provernet devnet down --dir {directory} --clean` and run `up` again",
            USAGE,
        )
    n_nodes = DEFAULT_NODES if n_nodes is None else n_nodes
    block_time_s = DEFAULT_BLOCK_TIME_S if block_time_s is None else block_time_s
    check_arguments(n_nodes, block_time_s)
    try:
        binary = chain.locate_anvil(report=report)
    except ToolError as exc:
        raise CliError(str(exc), TOOL_MISSING) from exc
    directory.mkdir(parents=True, exist_ok=True)
    records: dict[str, ProcessRecord] = {}
    try:
        state = _create(directory, binary, n_nodes, block_time_s, records, report)
    except BaseException:
        killed = stop_all(list(reversed(records.values())))
        if records:
            report(f"stopped the {len(records)} processes this `up` started"
                   + (f" ({', '.join(killed)} killed)" if killed else ""))  # fmt: skip
        raise
    return UpResult(state, tuple(records), resumed=False)


def _create(
    directory: Path,
    binary: Path,
    n_nodes: int,
    block_time_s: int,
    records: dict[str, ProcessRecord],
    report: Report,
) -> DevnetState:
    write_secret(directory / PASSWORD_FILE, secrets.token_hex(32).encode() + b"\n")
    port = free_port()
    rpc_url = f"http://127.0.0.1:{port}"
    argv = chain.anvil_argv(binary, port, block_time_s, directory / ANVIL_STATE_FILE)
    _start_anvil(argv, directory, rpc_url, records)
    report(f"anvil on {rpc_url} (chain {DEFAULT_CHAIN_ID}, a block every {block_time_s} s)")
    try:
        with chain.instant_mining(rpc_url, block_time_s):
            deployment = chain.deploy(rpc_url, report)
            deployment.save(directory / DEPLOYMENT_FILE)
            entries = _init_nodes(directory, n_nodes, rpc_url, report)
            chain.fund(rpc_url, [e.address for e in entries], report)
    except (AnvilError, ChainError) as exc:
        raise CliError(f"deploying the contracts or funding the nodes failed: {exc}") from exc
    _start_nodes(directory, entries, records, report)
    return _prepare(directory, entries, rpc_url, port, block_time_s, deployment, report)


def _start_anvil(
    argv: list[str], directory: Path, rpc_url: str, records: dict[str, ProcessRecord]
) -> None:
    port = int(argv[argv.index("--port") + 1])
    if not _port_free(port):
        raise CliError(
            f"port {port} (anvil's) is in use; stop what holds it, or start a new devnet "
            "in another --dir",
            FAILED,
        )
    try:
        records[ANVIL] = chain.start_anvil(argv, directory / ANVIL_LOG, rpc_url)
    except (ProcessError, chain.DevnetChainError) as exc:
        raise CliError(f"anvil failed to start: {exc}", FAILED) from exc
    save_pids(directory, records)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As anvil binds: connections of a stopped anvil in TIME_WAIT do not hold the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _init_nodes(directory: Path, n_nodes: int, rpc_url: str, report: Report) -> list[NodeEntry]:
    deployment = directory / DEPLOYMENT_FILE
    entries = [nodes.init_node(directory, 0, rpc_url, deployment, ())]
    for index in range(1, n_nodes):
        entries.append(
            nodes.init_node(directory, index, rpc_url, deployment, [entries[0].multiaddr])
        )
    for entry in entries:
        report(f"{entry.name}: {entry.role:<9} {entry.address}  home {entry.home}")
    return entries


def _start_node(directory: Path, entry: NodeEntry, records: dict[str, ProcessRecord]) -> None:
    argv = nodes.node_argv(entry.home)
    try:
        records[entry.name] = spawn(
            entry.name, argv, nodes.node_log(entry), env=nodes.node_env(), cwd=Path(entry.home)
        )
    except ProcessError as exc:
        raise CliError(f"{entry.name} failed to start: {exc}", FAILED) from exc
    save_pids(directory, records)


def _start_nodes(
    directory: Path, entries: list[NodeEntry], records: dict[str, ProcessRecord], report: Report
) -> None:
    """Start the bootstrap node, then the others; wait until all are synced and connected."""
    report("starting the nodes ...")
    _start_node(directory, entries[0], records)
    nodes.wait_ready([(entries[0], records[entries[0].name])], lambda _: 0, report)
    for entry in entries[1:]:
        _start_node(directory, entry, records)
    _wait_connected(entries, records, report, entries[1:])


def _wait_connected(
    entries: list[NodeEntry],
    records: dict[str, ProcessRecord],
    report: Report,
    waiting: list[NodeEntry],
) -> None:
    """Wait for ``waiting``: the bootstrap node sees every other node, each other node it."""
    n_others = len(entries) - 1

    def min_peers(entry: NodeEntry) -> int:
        return n_others if entry.name == entries[0].name else 1

    nodes.wait_ready([(e, records[e.name]) for e in waiting], min_peers, report)
    if entries[0] not in waiting:
        nodes.wait_ready([(entries[0], records[entries[0].name])], min_peers, lambda _: None)


def _phase1(directory: Path, report: Report) -> Path:
    """The devnet's phase-1 file, made once (a single-party phase 1: devnets only)."""
    path = directory / f"pot{nodes.DEVNET_PTAU_POWER}.ptau"
    if not path.is_file():
        report(f"writing the devnet's phase 1 (2^{nodes.DEVNET_PTAU_POWER}) ...")
        secret = Phase1Secret.from_entropy(os.urandom(64))
        write_atomic(path, new_powers_of_tau(nodes.DEVNET_PTAU_POWER, secret))
    return path


def names_of(entries: Sequence[NodeEntry], addresses: Sequence[str]) -> list[str]:
    """Node names for ``addresses`` (the address itself where no node has it)."""
    by_address = {e.address.lower(): e.name for e in entries}
    return [by_address.get(a.lower(), a) for a in addresses]


def _prepare(
    directory: Path,
    entries: list[NodeEntry],
    rpc_url: str,
    port: int,
    block_time_s: int,
    deployment: Deployment,
    report: Report,
) -> DevnetState:
    """Stake the provers, register the demo model, write devnet.json."""
    with ThreadPoolExecutor(max_workers=len(entries)) as pool:  # one block for all deposits
        for entry, tx in zip(entries[1:], pool.map(nodes.stake, entries[1:]), strict=True):
            report(f"{entry.name} staked {nodes.STAKE} (tx {tx})")
    files = nodes.demo_model_files()
    model = _register_and_fetch(directory, entries, nodes.DEMO_MODEL, "logits", report)
    state = DevnetState(
        rpc_url=rpc_url,
        chain_id=deployment.chain_id,
        anvil_port=port,
        block_time_s=block_time_s,
        deployment=deployment.to_json(),
        nodes=tuple(entries),
        model={
            "name": nodes.DEMO_MODEL,
            "id": model.get("id"),
            "onnx": str(files.onnx),
            "input": str(files.input),
            "label": files.label,
            "ceremony": model.get("ceremony"),
        },
    )
    state.save(directory)
    return state


def _register_and_fetch(
    directory: Path, entries: Sequence[NodeEntry], name: str, reveal: str, report: Report
) -> dict[str, Any]:
    """Register the demo model as ``name`` (revealing ``reveal``) with a ceremony the
    registrant and two provers contribute to; every prover then holds it, verified."""
    files = nodes.demo_model_files()
    ptau = _phase1(directory, report)
    shown = "" if reveal == "logits" else f" revealing {reveal}"
    report(f"registering the demo model as {name}{shown} (compile, setup ceremony, "
           "registry) ...")  # fmt: skip
    started = time.monotonic()
    model = nodes.register_model(entries[0], files, name, ptau, entries[1:3], report, reveal=reveal)
    who = ", ".join(names_of(entries, (model.get("ceremony") or {}).get("contributors") or []))
    report(f"registered {name} as model {model.get('id')} "
           f"({model.get('constraints', '?')} constraints; ceremony contributors: {who}) "
           f"in {time.monotonic() - started:.1f} s")  # fmt: skip
    # Provers verify a model's transcript before bidding on it: done here, so the demo's
    # bids do not race the verification (a prover still verifying would miss the window).
    report("the provers fetch the model and verify its ceremony ...")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(entries) - 1) as pool:
        fetched = pool.map(lambda e: nodes.fetch_model(e, int(model["id"])), entries[1:])
        for entry, held in zip(entries[1:], fetched, strict=True):
            if not (held.get("ceremony") or {}).get("verified"):
                raise CliError(f"{entry.name} holds model {held.get('id')} but has not "
                               f"verified its ceremony; see `provernet devnet logs "
                               f"{entry.name}`", FAILED)  # fmt: skip
            report(f"{entry.name} holds model {held.get('id')}, its ceremony verified")
    report(f"every prover holds the model ({time.monotonic() - started:.1f} s)")
    return model


def revealing_model(
    directory: Path, state: DevnetState, reveal: str, report: Report
) -> dict[str, Any]:
    """The demo model registered to reveal only ``reveal`` (registered, and recorded in
    devnet.json, on first use); its name, id and ceremony."""
    variants = dict(state.model.get("variants") or {})
    if reveal not in variants:
        name = f"{nodes.DEMO_MODEL}-{reveal.replace(':', '-')}"
        model = _register_and_fetch(directory, state.nodes, name, reveal, report)
        variants[reveal] = {"name": name, "id": model.get("id"), "ceremony": model.get("ceremony")}
        state = dataclasses.replace(state, model={**state.model, "variants": variants})
        state.save(directory)
    return {**state.model, **variants[reveal], "reveal": reveal}


def _resume(
    directory: Path, n_nodes: int | None, block_time_s: int | None, report: Report
) -> UpResult:
    state = DevnetState.load(directory)
    if n_nodes is not None and n_nodes != len(state.nodes):
        raise CliError(
            f"{directory} holds a devnet of {len(state.nodes)} nodes, not {n_nodes}; "
            f"`provernet devnet down --dir {directory} --clean` to start another",
            USAGE,
        )
    if block_time_s is not None and block_time_s != state.block_time_s:
        raise CliError(
            f"{directory} holds a devnet with a block every {state.block_time_s} s; "
            "omit --block-time to resume it, or `down --clean` to start another",
            USAGE,
        )
    records = load_pids(directory)
    dead = [name for name in (ANVIL, *(e.name for e in state.nodes))
            if name not in records or not is_running(records[name])]  # fmt: skip
    if not dead:
        report(f"the devnet in {directory} is already running ({len(records)} processes)")
        return UpResult(state, (), resumed=True)
    report(f"restarting {', '.join(dead)}")
    started: dict[str, ProcessRecord] = {}
    try:
        _restart(directory, state, records, dead, started, report)
    except BaseException:
        stop_all(list(reversed(started.values())))
        save_pids(directory, {**records, **started})
        raise
    return UpResult(state, tuple(dead), resumed=True)


def _restart(
    directory: Path,
    state: DevnetState,
    records: dict[str, ProcessRecord],
    dead: list[str],
    started: dict[str, ProcessRecord],
    report: Report,
) -> None:
    merged = dict(records)
    if ANVIL in dead:
        _restart_anvil(directory, state, records.get(ANVIL), merged)
        started[ANVIL] = merged[ANVIL]
        report(f"anvil restarted on {state.rpc_url} with its saved chain")
    entries = [e for e in state.nodes if e.name in dead]
    for entry in entries:
        _start_node(directory, entry, merged)
        started[entry.name] = merged[entry.name]
    if entries:
        report("waiting for the restarted nodes ...")
        _wait_connected(list(state.nodes), merged, report, entries)


def _restart_anvil(
    directory: Path,
    state: DevnetState,
    previous: ProcessRecord | None,
    records: dict[str, ProcessRecord],
) -> None:
    state_file = directory / ANVIL_STATE_FILE
    if previous is None or not state_file.is_file():
        raise CliError(
            f"anvil of the devnet in {directory} is gone and left no saved chain "
            f"({state_file}); its nodes' records would not match a new chain. "
            f"Run `provernet devnet down --dir {directory} --clean`, then `up` again",
            FAILED,
        )
    _start_anvil(list(previous.argv), directory, state.rpc_url, records)
    try:
        chain.check_deployment(state.rpc_url, Deployment.from_json(state.deployment))
    except chain.DevnetChainError as exc:
        raise CliError(
            f"{exc}; the saved chain does not hold this devnet. Run "
            f"`provernet devnet down --dir {directory} --clean`, then `up` again",
            FAILED,
        ) from exc


def down(directory: Path, clean: bool, report: Report) -> list[str]:
    """Stop every recorded process still running (nodes first); with ``clean``, remove DIR."""
    directory = directory.absolute()
    if not ((directory / STATE_FILE).exists() or (directory / PIDS_FILE).exists()):
        raise CliError(f"{directory} holds no devnet (no {STATE_FILE} or {PIDS_FILE})", USAGE)
    records = load_pids(directory)
    running = [r for name, r in records.items() if name != ANVIL and is_running(r)]
    if ANVIL in records and is_running(records[ANVIL]):
        running.append(records[ANVIL])  # last: it saves the chain as it exits
    killed = stop_all(running)
    for record in running:
        note = " (killed after the timeout)" if record.name in killed else ""
        report(f"stopped {record.name} (pid {record.pid}){note}")
    if not running:
        report("nothing was running")
    if clean:
        shutil.rmtree(directory)
        report(f"removed {directory}")
    return [r.name for r in running]


def status(directory: Path) -> dict[str, Any]:
    """Each process (alive or not, pid) and each live node's peers, sync and jobs."""
    directory = directory.absolute()
    state = DevnetState.load(directory)
    records = load_pids(directory)
    anvil = records.get(ANVIL)
    answer: dict[str, Any] = {
        "dir": str(directory),
        "rpc_url": state.rpc_url,
        "chain_id": state.chain_id,
        "anvil": {
            "running": anvil is not None and is_running(anvil),
            "pid": None if anvil is None else anvil.pid,
            "log": str(directory / ANVIL_LOG),
        },
        "nodes": [],
    }
    for entry in state.nodes:
        record = records.get(entry.name)
        alive = record is not None and is_running(record)
        live = nodes.status_of(entry) if alive else None
        node = (live or {}).get("node", {})
        answer["nodes"].append({
            **entry.to_json(),
            "running": alive,
            "pid": None if record is None else record.pid,
            "ready": None if live is None else live.get("ready"),
            "peers": node.get("peers"),
            "head_block": node.get("head_block"),
            "processed_block": node.get("processed_block"),
            "jobs": node.get("jobs"),
            "log": str(nodes.node_log(entry)),
        })  # fmt: skip
    return answer
