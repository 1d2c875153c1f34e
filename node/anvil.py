"""Start and stop a local anvil chain (the devnet's and the tests' Ethereum node).

anvil comes from the pinned npm tools (node/tools.py). ``AnvilProcess`` owns one
child process on a free loopback port; ``start_anvil`` waits until the RPC answers
``eth_chainId`` and stops the process again if that never happens.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from node import tools

# anvil's default mnemonic ("test test ... junk") derives these ten funded dev accounts.
DEV_PRIVATE_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
DEFAULT_CHAIN_ID = 31337


class AnvilError(Exception):
    """anvil could not be started or did not answer."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_call(
    url: str, method: str, params: list[object] | None = None, timeout: float = 2.0
) -> object:
    """One JSON-RPC call over HTTP; raises AnvilError on transport or RPC errors."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise AnvilError(f"{method} to {url} failed: {exc}") from exc
    if "error" in reply:
        raise AnvilError(f"{method} to {url} returned an error: {reply['error']}")
    return reply.get("result")


@dataclass
class AnvilProcess:
    """A running anvil child process."""

    process: subprocess.Popen[bytes]
    port: int
    chain_id: int
    log_path: Path | None = None
    _log_file: object = field(default=None, repr=False)

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Terminate anvil and wait for it to exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        close = getattr(self._log_file, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> AnvilProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_anvil(
    *,
    port: int | None = None,
    chain_id: int = DEFAULT_CHAIN_ID,
    block_time: float | None = None,
    state_path: Path | None = None,
    log_path: Path | None = None,
    startup_timeout: float = 20.0,
) -> AnvilProcess:
    """Start anvil on 127.0.0.1 and return once its RPC answers."""
    binary = tools.require("anvil")
    port = port or free_port()
    cmd = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id)]
    if block_time is not None:
        cmd += ["--block-time", str(block_time)]
    if state_path is not None:
        cmd += ["--state", str(state_path)]
    log_file = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
    out = log_file if log_file is not None else subprocess.DEVNULL
    process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    anvil = AnvilProcess(process, port, chain_id, log_path, log_file)
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            anvil.stop()
            raise AnvilError(f"anvil exited with code {process.returncode} during start-up")
        try:
            answered = rpc_call(anvil.rpc_url, "eth_chainId", timeout=1.0)
        except AnvilError:
            answered = None
        if answered is not None:
            return anvil
        if time.monotonic() > deadline:
            anvil.stop()
            raise AnvilError(f"anvil did not answer on port {port} within {startup_timeout} s")
        time.sleep(0.05)
