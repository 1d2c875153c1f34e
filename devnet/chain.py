"""The devnet's chain: a detached anvil that keeps its state on disk, the contracts, funding.

anvil runs with ``--state FILE`` (loaded at start, dumped on exit) and
``--state-interval`` (dumped every second too), so a restarted anvil carries on
the same chain: a SIGKILLed one loses at most the last second of blocks. Blocks
come every ``--block-time`` seconds: JobMarket judges deadlines by block time.
While the contracts are deployed and the nodes funded, anvil mines each
transaction at once (``evm_setAutomine``); then interval mining resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from web3 import Web3

from devnet.procs import spawn, stop
from devnet.state import ANVIL, ProcessRecord, is_running
from node import tools
from node.anvil import DEFAULT_CHAIN_ID, AnvilError, rpc_call
from node.chain.deploy import Deployment, DeployParams, deploy_contracts
from node.chain.rpc import connect
from node.chain.sender import TxRecord, TxSender
from node.keys import dev_account

# anvil answers within a fraction of a second; a cold start of a loaded state takes longer.
ANVIL_START_TIMEOUT_S = 30.0
# What each node gets from the deployer (anvil's dev account 0 holds 10,000 ETH).
FUNDING_WEI = 100 * 10**18
# A week: no devnet job's deadlines come near it (ProverStaking's unbonding period).
WITHDRAWAL_DELAY_S = 7 * 24 * 60 * 60
DEPLOYER_ACCOUNT = 0


class DevnetChainError(Exception):
    """anvil could not be started, or the chain is not the one recorded."""


def locate_anvil(report: Callable[[str], None] = print) -> Path:
    """anvil from the pinned tools folder or PATH; the pinned tools installed with npm if not.

    Raises ToolError when npm is missing or the installation fails.
    """
    found = tools.find("anvil")
    if found is not None:
        return found
    report(f"anvil not found: installing the pinned npm tools into {tools.tools_dir()} ...")
    tools.install(quiet=True)
    return tools.require("anvil")


def anvil_argv(binary: Path, port: int, block_time_s: int, state_file: Path) -> list[str]:
    """The command line of the devnet's anvil."""
    return [
        str(binary), "--host", "127.0.0.1", "--port", str(port),
        "--chain-id", str(DEFAULT_CHAIN_ID), "--block-time", str(block_time_s),
        "--state", str(state_file), "--state-interval", "1",
    ]  # fmt: skip


def start_anvil(argv: Sequence[str], log: Path, rpc_url: str) -> ProcessRecord:
    """Start anvil detached and wait until its RPC answers; stops it again on failure."""
    record = spawn(ANVIL, argv, log)
    deadline = time.monotonic() + ANVIL_START_TIMEOUT_S
    while True:
        if not is_running(record):
            raise DevnetChainError(f"anvil exited during start-up; its log:\n{tail(log)}")
        try:
            rpc_call(rpc_url, "eth_chainId", timeout=1.0)
            return record
        except AnvilError:
            pass
        if time.monotonic() > deadline:
            stop(record)
            waited = f"{ANVIL_START_TIMEOUT_S:g} s"
            raise DevnetChainError(
                f"anvil did not answer on {rpc_url} within {waited}:\n{tail(log)}"
            )
        time.sleep(0.05)


@contextmanager
def instant_mining(rpc_url: str, block_time_s: int) -> Iterator[None]:
    """Mine each transaction at once for the ``with`` block, then every ``block_time_s``."""
    rpc_call(rpc_url, "evm_setAutomine", [True])
    try:
        yield
    finally:
        rpc_call(rpc_url, "evm_setIntervalMining", [block_time_s])


def deploy(rpc_url: str, report: Callable[[str], None]) -> Deployment:
    """Deploy provernet's contracts from anvil's dev account DEPLOYER_ACCOUNT."""
    w3 = connect(rpc_url, expected_chain_id=DEFAULT_CHAIN_ID)
    sender = TxSender(w3, dev_account(DEPLOYER_ACCOUNT))
    params = DeployParams(withdrawal_delay_s=WITHDRAWAL_DELAY_S)
    return deploy_contracts(sender, params, progress=report)


def fund(rpc_url: str, addresses: Sequence[str], report: Callable[[str], None]) -> None:
    """Send each address FUNDING_WEI from the deployer."""
    w3 = connect(rpc_url, expected_chain_id=DEFAULT_CHAIN_ID)
    sender = TxSender(w3, dev_account(DEPLOYER_ACCOUNT))
    sent: list[TxRecord] = [
        sender.send(Web3.to_checksum_address(a), value=FUNDING_WEI, label=f"fund {a}")
        for a in addresses
    ]
    for record in sent:
        sender.wait(record)
    report(f"funded {len(addresses)} node accounts with {FUNDING_WEI // 10**18} ETH each")


def check_deployment(rpc_url: str, deployment: Deployment) -> None:
    """Raise DevnetChainError unless the recorded contracts are live on ``rpc_url``."""
    try:
        deployment.check(connect(rpc_url, expected_chain_id=deployment.chain_id))
    except Exception as exc:  # web3, RPC and missing-code errors alike mean "not our chain"
        raise DevnetChainError(f"the recorded contracts are not on {rpc_url}: {exc}") from exc


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file (or a note that there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"
