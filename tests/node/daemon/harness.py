"""Named daemons for the tests: homes made by ``node init``, daemons run as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.anvil import free_port
from node.cli import main
from node.keys import PASSWORD_ENV

ROOT = Path(__file__).resolve().parents[3]
# An automining anvil makes blocks only for transactions: count none on top, poll often.
DAEMON_ENV = {"PROVERNET_CONFIRMATIONS": "0", "PROVERNET_POLL_INTERVAL": "0.2"}


@dataclass
class Home:
    """One node home (``node init`` with an anvil dev account) and its daemon, if running."""

    name: str
    root: Path
    address: str
    peer_id: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def multiaddr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}/p2p/{self.peer_id}"

    def cli(self, *args: str) -> int:
        """Run ``provernet --home <root> args...`` in this process; its exit code."""
        return main(["--home", str(self.root), *args])

    def start(self) -> None:
        """Start ``node run`` as a child process (stdout/stderr to <home>/daemon.out)."""
        out = (self.root / "daemon.out").open("ab")
        env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV} | DAEMON_ENV
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

    def log(self) -> str:
        path = self.root / "daemon.out"
        return path.read_text(errors="replace") if path.exists() else ""


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
