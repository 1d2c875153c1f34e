"""What a devnet directory records: ``devnet.json`` (the network) and ``pids.json`` (processes).

``devnet.json`` is written once ``devnet up`` has finished: the RPC URL, chain id,
deployment, block time, and one entry per node (home, peer multiaddr, Ethereum
address, role, price). ``pids.json`` is written as processes start, so that a
failed ``up`` and ``down`` alike can stop exactly what was started. Each process
record carries a fingerprint of the process (its start time in clock ticks since
boot, field 22 of ``/proc/PID/stat``): a pid the kernel has since given to another
process no longer matches, and is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "devnet.json"
PIDS_FILE = "pids.json"
PASSWORD_FILE = "keystore.password"
ANVIL_STATE_FILE = "anvil-state.json"
ANVIL_LOG = "anvil.log"
DEPLOYMENT_FILE = "deployment.json"
NODE_LOG = "daemon.log"
FORMAT = "provernet-devnet"
FORMAT_VERSION = 1
ANVIL = "anvil"
ROLES = ("requester", "prover")
# Field 22 of /proc/PID/stat (proc(5)): the process's start time after boot, in clock ticks.
_STARTTIME_FIELD = 22


class DevnetStateError(Exception):
    """A devnet directory's files are missing, malformed or from another version."""


@dataclass(frozen=True)
class NodeEntry:
    """One node of the devnet."""

    name: str
    home: str
    role: str
    address: str
    peer_id: str
    p2p_port: int
    price_per_1k_constraints: int = 0

    @property
    def multiaddr(self) -> str:
        """The node's libp2p address on the loopback interface."""
        return f"/ip4/127.0.0.1/tcp/{self.p2p_port}/p2p/{self.peer_id}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "multiaddr": self.multiaddr}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeEntry:
        entry = cls(
            name=str(data["name"]),
            home=str(data["home"]),
            role=str(data["role"]),
            address=str(data["address"]),
            peer_id=str(data["peer_id"]),
            p2p_port=int(data["p2p_port"]),
            price_per_1k_constraints=int(data.get("price_per_1k_constraints", 0)),
        )
        if entry.role not in ROLES:
            raise ValueError(f"node {entry.name} has the unknown role {entry.role!r}")
        return entry


@dataclass(frozen=True)
class DevnetState:
    """The devnet a directory holds (``devnet.json``)."""

    rpc_url: str
    chain_id: int
    anvil_port: int
    block_time_s: int
    deployment: Mapping[str, Any]
    nodes: tuple[NodeEntry, ...]
    model: Mapping[str, Any] = field(default_factory=dict)

    @property
    def requester(self) -> NodeEntry:
        """Node 0: bootstrap peer, requester and model owner."""
        return self.nodes[0]

    def node(self, name: str) -> NodeEntry:
        """The node called ``name`` (``node2``) or numbered ``name`` (``2``)."""
        wanted = f"node{name}" if name.isdigit() else name
        for entry in self.nodes:
            if entry.name == wanted:
                return entry
        names = ", ".join(e.name for e in self.nodes)
        raise DevnetStateError(f"there is no node {name!r}; the nodes are {names}")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "rpc_url": self.rpc_url,
            "chain_id": self.chain_id,
            "anvil_port": self.anvil_port,
            "block_time_s": self.block_time_s,
            "deployment": dict(self.deployment),
            "contracts": dict(self.deployment.get("contracts", {})),
            "model": dict(self.model),
            "nodes": [n.to_json() for n in self.nodes],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DevnetState:
        try:
            if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
                raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} file")
            nodes = tuple(NodeEntry.from_json(n) for n in data["nodes"])
            if not nodes:
                raise ValueError("it lists no nodes")
            return cls(
                rpc_url=str(data["rpc_url"]),
                chain_id=int(data["chain_id"]),
                anvil_port=int(data["anvil_port"]),
                block_time_s=int(data["block_time_s"]),
                deployment=dict(data["deployment"]),
                nodes=nodes,
                model=dict(data.get("model", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DevnetStateError(f"malformed {STATE_FILE}: {exc}") from exc

    def save(self, directory: Path) -> None:
        _write_json(directory / STATE_FILE, self.to_json())

    @classmethod
    def load(cls, directory: Path) -> DevnetState:
        """The devnet in ``directory``; DevnetStateError if there is none or it is malformed."""
        path = directory / STATE_FILE
        if not path.is_file():
            raise DevnetStateError(
                f"{directory} holds no devnet (no {STATE_FILE}); start one with `devnet up`"
            )
        return cls.from_json(_read_json(path))


@dataclass(frozen=True)
class ProcessRecord:
    """A process the devnet started: its pid, fingerprint, command line and log."""

    name: str
    pid: int
    fingerprint: str
    argv: tuple[str, ...]
    log: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "argv": list(self.argv)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            fingerprint=str(data["fingerprint"]),
            argv=tuple(str(a) for a in data["argv"]),
            log=str(data["log"]),
        )


def fingerprint(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks after boot), or None if it is gone.

    A zombie (exited, not yet reaped) counts as gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, starttime = fields[0], fields[_STARTTIME_FIELD - 3]
    return None if state in ("Z", "X") else starttime


def is_running(record: ProcessRecord) -> bool:
    """Whether the recorded process still runs: same pid and the same start time."""
    if record.pid <= 0:
        return False
    _reap(record.pid)
    return fingerprint(record.pid) == record.fingerprint


def _reap(pid: int) -> None:
    """Collect the exit status of ``pid`` if it is our own exited child (else nothing)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def load_pids(directory: Path) -> dict[str, ProcessRecord]:
    """The recorded processes by name (none when there is no ``pids.json``)."""
    path = directory / PIDS_FILE
    if not path.exists():
        return {}
    try:
        raw = _read_json(path)
        return {str(k): ProcessRecord.from_json(v) for k, v in raw["processes"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DevnetStateError(f"malformed {path}: {exc}") from exc


def save_pids(directory: Path, records: Mapping[str, ProcessRecord]) -> None:
    _write_json(directory / PIDS_FILE, {"processes": {k: v.to_json() for k, v in records.items()}})


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise DevnetStateError(f"cannot read {path}: {exc}") from exc
    except ValueError as exc:
        raise DevnetStateError(f"{path} is not JSON: {exc}") from exc


def _write_json(path: Path, value: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    tmp.replace(path)
