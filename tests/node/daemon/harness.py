"""Named daemons for the tests: homes made by ``node init``, daemons run as real processes.

``market`` is the usual entry point: it inits one home per name with its own anvil
dev account, bootstraps every node from the first, starts them and waits until each
has caught up with the chain. The CLI in the test's process talks to them through
their local APIs (``cli_json``, ``is_up``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from node.anvil import AnvilProcess, free_port, rpc_call
from node.cli import main
from node.exit_codes import OK
from node.home import HomeLayout
from node.keys import PASSWORD_ENV

ROOT = Path(__file__).resolve().parents[3]
# An automining anvil makes blocks only for transactions: count none on top, poll often.
DAEMON_ENV = {"PROVERNET_CONFIRMATIONS": "0", "PROVERNET_POLL_INTERVAL": "0.2"}
# A daemon starts its worker pool, p2p host and chain sync in a few seconds; 2 busy cores
# running three of them at once have taken up to 20 s.
START_TIMEOUT_S = 45.0


@dataclass
class Home:
    """One node home (``node init`` with an anvil dev account) and its daemon, if running."""

    name: str
    root: Path
    address: str
    peer_id: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    # Environment for ``node run`` on top of DAEMON_ENV (config fields by their variables).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def multiaddr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}/p2p/{self.peer_id}"

    def cli(self, *args: str) -> int:
        """Run ``provernet --home <root> args...`` in this process; its exit code."""
        return main(["--home", str(self.root), *args])

    def start(self) -> None:
        """Start ``node run`` as a child process (stdout/stderr to <home>/daemon.out)."""
        out = (self.root / "daemon.out").open("ab")
        env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV} | DAEMON_ENV | self.env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "--home", str(self.root), "node", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        """Signal the daemon and wait for it; its exit code."""
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout_s)
        self.process = None
        return code

    def alive(self) -> bool:
        """Whether the daemon's process is running."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        path = self.root / "daemon.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def job_state(self, role: str, job_id: int | None = None) -> str | None:
        """The stored state of this node's ``role`` job (chain job ``job_id``, or its only
        one), read from the SQLite store beside the running daemon."""
        query, params = "SELECT state FROM jobs WHERE role = ?", [role]
        if job_id is not None:
            query, params = query + " AND job_id = ?", [role, str(job_id)]
        uri = f"file:{HomeLayout(self.root).database}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            row = db.execute(query, params).fetchone()
        return None if row is None else str(row[0])

    def set_config(self, old: str, new: str) -> None:
        """Replace the line ``old`` of the home's config.toml by ``new``."""
        config = self.root / "config.toml"
        text = config.read_text()
        assert old in text, f"{old!r} is not in {config}"
        config.write_text(text.replace(old, new))


def init_home(
    tmp_path: Path,
    name: str,
    deployment: Path,
    rpc_url: str,
    dev_account: int,
    read_out: Callable[[], str],
    bootstrap: Sequence[str] = (),
) -> Home:
    """``node init`` a home for ``name`` with anvil's dev account ``dev_account``.

    ``read_out`` returns what the command printed (pytest's captured stdout).
    """
    root, port = tmp_path / name, free_port()
    listen = f"/ip4/127.0.0.1/tcp/{port}"
    args = ["--home", str(root), "node", "init", "--rpc-url", rpc_url,
            "--deployment", str(deployment), "--role", "both",
            "--dev-account", str(dev_account), "--listen", listen, "--json"]  # fmt: skip
    if bootstrap:
        args += ["--bootstrap", *bootstrap]
    read_out()
    assert main(args) == 0
    report = json.loads(read_out())
    return Home(name, root, report["address"], report["peer_id"], port)


def alice_and_bob(
    tmp_path: Path, deployment: Path, rpc_url: str, capsys: pytest.CaptureFixture[str]
) -> tuple[Home, Home]:
    """Homes for alice (dev account 1) and bob (2, bootstrapping from alice)."""

    def out() -> str:
        return capsys.readouterr().out

    alice = init_home(tmp_path, "alice", deployment, rpc_url, 1, out)
    return alice, init_home(tmp_path, "bob", deployment, rpc_url, 2, out, [alice.multiaddr])


def wait_for(
    condition: Callable[[], Any], timeout_s: float = 30.0, what: str = "a condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


@contextmanager
def running(*homes: Home) -> Iterator[None]:
    """Start each home's daemon; kill whatever is still running afterwards."""
    for home in homes:
        home.start()
    try:
        yield
    finally:
        for home in homes:
            if home.process is not None:
                home.process.kill()
                home.process.wait(10)
                home.process = None


def cli_json(home: Home, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """``provernet --home <root> args... --json``, which must succeed; its answer."""
    capsys.readouterr()
    assert home.cli(*args, "--json") == OK, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def is_up(home: Home, capsys: pytest.CaptureFixture[str]) -> bool:
    """Whether the daemon answers and has caught up with the chain."""
    capsys.readouterr()
    answering = home.cli("node", "status", "--json") == OK
    out = capsys.readouterr().out
    return answering and json.loads(out)["ready"] is True


def register(
    home: Home,
    capsys: pytest.CaptureFixture[str],
    onnx: Path | str,
    name: str,
    ptau: Path,
    *extra: str,
    window: str = "2s",
) -> Any:
    """``model register`` through ``home`` with a ceremony from ``ptau`` (the only models the
    market takes jobs for): the registrant contributes, the window passes, the beacon is
    applied; the model as JSON. Blocks must be mined meanwhile (``blocks_every_second``)."""
    return cli_json(home, capsys, "model", "register", str(onnx), "--name", name,
                    "--ptau", str(ptau), "--contribution-window", window, *extra)  # fmt: skip


def submit_job(
    home: Home,
    capsys: pytest.CaptureFixture[str],
    model: str | int,
    input_file: Path,
    *options: str,
    wait: bool = True,
) -> tuple[int, Any]:
    """``job submit --model model --input input_file options... --json [--wait]``.

    Returns its exit code and its answer (the job, once final with ``wait``).
    """
    args = ["job", "submit", "--model", str(model), "--input", str(input_file), *options]
    capsys.readouterr()
    code = home.cli(*args, "--json", *(["--wait"] if wait else []))
    captured = capsys.readouterr()
    assert captured.out, f"job submit printed nothing (exit {code}): {captured.err}"
    return code, json.loads(captured.out)


def wait_until_up(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    """Wait until ``home``'s daemon is ready; its exit or a timeout fails with its log."""

    def up() -> bool:
        if home.process is not None and home.process.poll() is not None:
            raise AssertionError(f"{home.name}'s daemon exited with {home.process.returncode}")
        return is_up(home, capsys)

    try:
        wait_for(up, START_TIMEOUT_S, f"{home.name}'s daemon to be ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{home.log()}") from None


def catch_up_clock(anvil: AnvilProcess) -> None:
    """Set anvil's clock to the wall clock if it lags behind.

    ``evm_revert`` rewinds the chain's clock to the snapshot's block, and it keeps
    ticking from there: after a suite of reverted tests the chain trails the wall
    clock by their whole run time. The daemons stamp deadlines by the wall clock and
    JobMarket judges them by the block's, so "after the deadline" would come late.
    """
    latest = rpc_call(anvil.rpc_url, "eth_getBlockByNumber", ["latest", False])
    now = int(time.time())
    if int(latest["timestamp"], 16) < now:
        rpc_call(anvil.rpc_url, "evm_setTime", [now])


class Miner:
    """Mines a block a second on anvil, except while ``paused``."""

    def __init__(self, anvil: AnvilProcess) -> None:
        self.anvil, self.lock, self.on = anvil, threading.Lock(), True

    def mine_now(self) -> None:
        """Mine one block unless paused."""
        with self.lock:
            if self.on:
                rpc_call(self.anvil.rpc_url, "evm_mine")

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No block from this miner meanwhile (a block being mined is finished first)."""
        with self.lock:
            self.on = False
        try:
            yield
        finally:
            with self.lock:
                self.on = True


@contextmanager
def blocks_every_second(anvil: AnvilProcess) -> Iterator[Miner]:
    """Mine a block a second, as a live chain does (an automining anvil idles between
    transactions, and JobMarket judges deadlines by the latest block's time)."""
    stop, miner = threading.Event(), Miner(anvil)

    def mine() -> None:
        while not stop.wait(1.0):
            miner.mine_now()

    thread = threading.Thread(target=mine, daemon=True)
    thread.start()
    try:
        yield miner
    finally:
        stop.set()
        thread.join()


@contextmanager
def market(
    tmp_path: Path,
    anvil: AnvilProcess,
    deployment: Path,
    capsys: pytest.CaptureFixture[str],
    names: Sequence[str],
    *,
    first_account: int = 1,
    env: Mapping[str, Mapping[str, str]] | None = None,
    configure: Callable[[Home], None] | None = None,
    live_chain: bool = True,
) -> Iterator[dict[str, Home]]:
    """Daemons named ``names``, up and peered, on dev accounts ``first_account``, +1, ...

    Every node after the first bootstraps from the first. ``env`` gives a node's extra
    environment by name; ``configure`` may edit each home before it starts. With
    ``live_chain`` anvil mines a block a second meanwhile (``blocks_every_second``).
    Yields the homes by name; the daemons are killed afterwards.
    """

    def out() -> str:
        return capsys.readouterr().out

    homes: dict[str, Home] = {}
    for offset, name in enumerate(names):
        bootstrap = [homes[names[0]].multiaddr] if homes else []
        home = init_home(
            tmp_path, name, deployment, anvil.rpc_url, first_account + offset, out, bootstrap
        )
        home.env.update((env or {}).get(name, {}))
        if configure is not None:
            configure(home)
        homes[name] = home
    with ExitStack() as stack:
        stack.enter_context(running(*homes.values()))
        if live_chain:
            stack.enter_context(blocks_every_second(anvil))
        for home in homes.values():
            wait_until_up(home, capsys)
        first, *others = homes.values()
        wait_for(
            functools.partial(_bound_peers, first, capsys, {h.peer_id for h in others}),
            START_TIMEOUT_S,
            f"{first.name} to see every other node's peer record",
        )
        yield homes


def _bound_peers(home: Home, capsys: pytest.CaptureFixture[str], wanted: set[str]) -> bool:
    """Whether ``home`` is connected to every peer of ``wanted`` and knows its account."""
    peers = cli_json(home, capsys, "node", "peers")
    return wanted <= {p["peer_id"] for p in peers if p["account"]}
