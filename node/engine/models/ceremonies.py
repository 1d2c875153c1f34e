"""Phase-2 ceremonies between nodes: keys in flight, contributing, choosing the final key.

Keys in flight. Every ceremony key this node made or fetched is kept, by sha256, in
``<home>/ceremonies/<ceremony id>/<sha256>.zkey`` and served as a blob (a ceremony key
is public; its secret never left the contribution that made it). A contributor adds its
new key here before recording it on-chain, so the key is fetchable as soon as anyone can
see it recorded. A ceremony's folder is removed once the ceremony is finalized: the final
key carries every contribution's record and verifies without the keys before it.

Contributing (``contribute``, any node): fetch the ceremony's latest recorded key from a
connected peer (checked against the recorded sha256), check that its contributions are
the recorded ones in order, contribute with fresh OS entropy in a worker thread, keep the
new key, and record it. A rival recorded first (``StalePredecessor``): fetch the new
latest key and contribute again, with new entropy.

Choosing (``choose_final``, the coordinator after the beacon): the coordinator builds the
final key on the longest prefix of recorded contributions it can fetch and verify,
starting from its own; a contribution recorded but never served, or one that does not
verify, is left out with everything after it, so nobody can stall a ceremony by
recording a key they withhold. The registry records how many contributions the final key
includes, and every fetcher checks exactly that prefix.

Mirroring (``mirror``, every node that holds a key of the ceremony): each newly recorded
key is fetched as soon as the registry records it, so a contributor connected only to the
coordinator still finds the latest key, and a contributor may go offline once its key
is mirrored. A fetch is bounded by the size of the keys already held plus one
contribution's record, so a recorded key cannot be used to fill a mirror's disk.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import trio
from libp2p.peer.id import ID

from node.api.events import EventLog
from node.chain.errors import ContractRevert
from node.chain.interface import Chain
from node.chain.types import CeremonyContribution, CeremonyInfo
from node.p2p.errors import P2PError
from node.parallel import ceremony_backend
from protocol.errors import RemoteProtocolError
from protocol.groth16 import phase2
from protocol.groth16.ptau import PowersOfTau
from protocol.groth16.zkey import ZKey, ZKeyFormatError, zkey_from_bytes, zkey_to_bytes
from protocol.r1cs import R1CS

logger = logging.getLogger(__name__)

# The largest ceremony key fetched (a 2^20-constraint key is about 0.6 GiB) when no key
# of the ceremony is held here; with one held, a later key may be larger by at most
# KEY_GROWTH_BYTES per contribution (its record and name).
MAX_KEY_BYTES = 4 << 30
KEY_GROWTH_BYTES = 4096
# Contributions made again after a rival was recorded first, before giving up.
REBASE_ATTEMPTS = 5
# How often the latest key is fetched again when no peer serves it yet, and how long apart.
FETCH_ATTEMPTS = 10
FETCH_RETRY_S = 1.0
# How often the coordinator polls the chain while the window runs and the beacon is
# mined; how many polls before it closes the ceremony again (an expired beacon).
CEREMONY_POLL_S = 0.5
BEACON_POLLS = 120


class CeremonyError(Exception):
    """A ceremony step cannot go on (closed window, no peer serves the key, lost races)."""


class KeyNetwork(Protocol):
    """What ceremonies need from the p2p service."""

    async def fetch_blob_to_file(
        self, peer: ID, sha256: bytes, path: Path, *, max_bytes: int | None = None
    ) -> int: ...

    def connected_peers(self) -> list[ID]: ...


class CeremonyKeys:
    """The ceremony keys held here (module docstring), indexed by sha256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[bytes, Path] = {}
        if root.is_dir():
            for path in root.glob("*/*.zkey"):
                try:
                    self._index[bytes.fromhex(path.stem)] = path
                except ValueError:
                    continue

    def lookup(self, sha256: bytes) -> Path | None:
        """The held key file with this sha256 (the blob lookup)."""
        path = self._index.get(sha256)
        return path if path is not None and path.is_file() else None

    def add(self, ceremony_id: int, data: bytes) -> bytes:
        """Keep key bytes ``data`` of ``ceremony_id``; their sha256."""
        sha = _sha256(data)
        folder = self.root / str(ceremony_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{sha.hex()}.zkey"
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)
        self._index[sha] = path
        return sha

    def adopt(self, ceremony_id: int, fetched: Path, sha256: bytes) -> Path:
        """Move a fetched (already hash-checked) key file into place."""
        path = self.root / str(ceremony_id) / f"{sha256.hex()}.zkey"
        fetched.replace(path)
        self._index[sha256] = path
        return path

    def scratch(self, ceremony_id: int, sha256: bytes) -> Path:
        """Where a fetch of key ``sha256`` is written before it is adopted."""
        folder = self.root / str(ceremony_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f".{sha256.hex()}.fetch"

    def follows(self, ceremony_id: int) -> bool:
        """Whether this node holds any key of ``ceremony_id`` (it opened or joined it)."""
        return any(p.parent.name == str(ceremony_id) for p in self._index.values())

    def size_bound(self, ceremony_id: int, contributions_after: int = 1) -> int:
        """The most bytes a key of ``ceremony_id`` may have that is ``contributions_after``
        contributions past the largest one held here."""
        folder = self.root / str(ceremony_id)
        sizes = [p.stat().st_size for p in self._index.values() if p.parent == folder]
        if not sizes:
            return MAX_KEY_BYTES
        return max(sizes) + KEY_GROWTH_BYTES * max(contributions_after, 1)

    def forget(self, ceremony_id: int) -> None:
        """Drop a finalized ceremony's keys."""
        folder = self.root / str(ceremony_id)
        self._index = {k: p for k, p in self._index.items() if p.parent != folder}
        shutil.rmtree(folder, ignore_errors=True)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


async def fetch_key(
    network: KeyNetwork,
    keys: CeremonyKeys,
    ceremony_id: int,
    sha256: bytes,
    *,
    max_bytes: int = MAX_KEY_BYTES,
) -> Path:
    """Key ``sha256`` of ``ceremony_id``: held, or fetched from the first connected peer
    that serves it (the p2p layer checks the bytes against the hash and the size)."""
    held = keys.lookup(sha256)
    if held is not None:
        return held
    problems = []
    for peer in network.connected_peers():
        scratch = keys.scratch(ceremony_id, sha256)
        try:
            await network.fetch_blob_to_file(peer, sha256, scratch, max_bytes=max_bytes)
        except P2PError as exc:
            problems.append(f"{str(peer)[:12]}…: {exc}")
            continue
        return keys.adopt(ceremony_id, scratch, sha256)
    detail = "; ".join(problems) or "no peer is connected"
    raise CeremonyError(f"no peer served ceremony {ceremony_id}'s key 0x{sha256.hex()}: {detail}")


def check_lineage(key: ZKey, recorded: Sequence[CeremonyContribution]) -> None:
    """Raise CeremonyError unless ``key``'s contributions are exactly ``recorded``, in order."""
    ours = [phase2.contribution_hash(c) for c in key.contributions]
    if ours != [r.contribution_hash for r in recorded]:
        raise CeremonyError(
            f"the key holds {len(ours)} contribution(s) that are not the {len(recorded)} "
            "recorded on-chain in order"
        )


def contribute_to(path: Path, name: str) -> tuple[bytes, bytes]:
    """The key at ``path`` with one contribution of fresh OS entropy (discarded on
    return): (new key bytes, contribution hash)."""
    key = phase2.contribute(zkey_from_bytes(path.read_bytes()), os.urandom(64), name=name,
                            backend=ceremony_backend())  # fmt: skip
    return zkey_to_bytes(key), phase2.contribution_hash(key.contributions[-1])


@dataclass(frozen=True)
class Contribution:
    """A contribution this node recorded."""

    ceremony_id: int
    index: int
    key_sha256: bytes
    contribution_hash: bytes


Send = Callable[..., Awaitable[Any]]


async def contribute(
    chain: Chain,
    network: KeyNetwork,
    keys: CeremonyKeys,
    send: Send,
    ceremony_id: int,
    name: str,
    log: EventLog,
) -> Contribution:
    """Contribute to ``ceremony_id`` and record it (module docstring)."""
    for attempt in range(REBASE_ATTEMPTS):
        info = await trio.to_thread.run_sync(chain.get_ceremony, ceremony_id)
        now = await trio.to_thread.run_sync(chain.timestamp)
        if info.beacon_block != 0 or now > info.contribution_deadline:
            raise CeremonyError(f"ceremony {ceremony_id} takes no more contributions")
        latest = info.latest_key_sha256
        log.append({"stage": "fetching", "ceremony_id": ceremony_id, "key": latest.hex()})
        recorded = await trio.to_thread.run_sync(chain.ceremony_contributions, ceremony_id)
        path = await _fetch_latest(network, keys, ceremony_id, latest, len(recorded))
        try:
            await trio.to_thread.run_sync(
                check_lineage, zkey_from_bytes(path.read_bytes()), recorded
            )
        except ZKeyFormatError as exc:
            raise CeremonyError(f"ceremony {ceremony_id}'s latest key is malformed: {exc}") from exc
        log.append({"stage": "contributing", "ceremony_id": ceremony_id,
                    "after": len(recorded)})  # fmt: skip
        data, digest = await trio.to_thread.run_sync(contribute_to, path, name)
        sha = keys.add(ceremony_id, data)  # served before it is recorded
        try:
            await send(
                "contribute",
                lambda c, p=latest, k=sha, h=digest: c.contribute(ceremony_id, p, k, h),
                ceremony_id=ceremony_id,
            )
        except ContractRevert as exc:
            if exc.name == "StalePredecessor":
                log.append({"stage": "rebasing", "ceremony_id": ceremony_id,
                            "attempt": attempt + 1})  # fmt: skip
                continue
            if exc.name == "ContributionsClosed":
                raise CeremonyError(f"ceremony {ceremony_id} closed before ours landed") from exc
            raise
        return Contribution(ceremony_id, len(recorded) + 1, sha, digest)
    raise CeremonyError(
        f"ceremony {ceremony_id}: others were recorded first {REBASE_ATTEMPTS} times; try again"
    )


async def _fetch_latest(
    network: KeyNetwork, keys: CeremonyKeys, ceremony_id: int, sha256: bytes, recorded: int
) -> Path:
    """The latest key, retried for a while: a key recorded a moment ago may not yet be
    mirrored by the peers this node is connected to."""
    bound = keys.size_bound(ceremony_id, recorded)
    for _ in range(FETCH_ATTEMPTS - 1):
        try:
            return await fetch_key(network, keys, ceremony_id, sha256, max_bytes=bound)
        except CeremonyError:
            await trio.sleep(FETCH_RETRY_S)
    return await fetch_key(network, keys, ceremony_id, sha256, max_bytes=bound)


async def await_beacon(chain: Chain, send: Send, ceremony_id: int, deadline: int) -> bytes:
    """Close ``ceremony_id`` once its window is over (by the chain's clock) and wait for
    its beacon, closing again if the beacon block's hash expired unread."""
    while await trio.to_thread.run_sync(chain.timestamp) <= deadline:  # noqa: ASYNC110 (the chain's clock, not an event here)
        await trio.sleep(CEREMONY_POLL_S)
    while True:
        try:
            await send("close_ceremony", lambda c: c.close_ceremony(ceremony_id),
                       ceremony_id=ceremony_id)  # fmt: skip
        except ContractRevert as exc:
            if exc.name != "AlreadyClosed":
                raise
        for _ in range(BEACON_POLLS):
            try:
                return await trio.to_thread.run_sync(chain.beacon_of, ceremony_id)
            except ContractRevert as exc:
                if exc.name != "BeaconUnavailable":
                    raise
            await trio.sleep(CEREMONY_POLL_S)


async def mirror(network: KeyNetwork, keys: CeremonyKeys, ceremony_id: int, sha256: bytes) -> None:
    """Fetch a newly recorded key of a ceremony this node follows, so that it serves the
    key to peers that are not connected to its contributor (module docstring)."""
    if keys.lookup(sha256) is not None or not keys.follows(ceremony_id):
        return
    try:
        await fetch_key(network, keys, ceremony_id, sha256, max_bytes=keys.size_bound(ceremony_id))
    except (CeremonyError, OSError) as exc:
        logger.info("ceremony %d: not mirroring key 0x%s: %s", ceremony_id, sha256.hex(), exc)


@dataclass(frozen=True)
class Choice:
    """The key the coordinator finalizes from: its bytes, how many recorded contributions
    it includes, and why any after them were left out."""

    key: ZKey
    included: int
    left_out: tuple[str, ...]


async def choose_final(
    network: KeyNetwork,
    keys: CeremonyKeys,
    ceremony_id: int,
    recorded: Sequence[CeremonyContribution],
    own: int,
    r1cs: R1CS,
    ptau: PowersOfTau,
) -> Choice:
    """The longest prefix of ``recorded`` from the coordinator's own contribution (index
    ``own``, 1-based) whose key this node can fetch and verify (module docstring)."""
    own_path = keys.lookup(recorded[own - 1].key_sha256)
    assert own_path is not None, "the coordinator keeps its own contribution's key"
    candidates: list[tuple[int, ZKey]] = [(own, zkey_from_bytes(own_path.read_bytes()))]
    left_out: list[str] = []
    for r in recorded[own:]:
        try:
            bound = keys.size_bound(ceremony_id)
            path = await fetch_key(network, keys, ceremony_id, r.key_sha256, max_bytes=bound)
            key = zkey_from_bytes(path.read_bytes())
            check_lineage(key, recorded[: r.index])
        except (CeremonyError, ZKeyFormatError, OSError) as exc:
            left_out.append(f"contribution {r.index} by {r.contributor}: {exc}")
            break
        candidates.append((r.index, key))
    while candidates:
        index, key = candidates[-1]
        try:
            await trio.to_thread.run_sync(
                lambda k=key: phase2.verify_zkey(
                    k, r1cs, ptau, seed=os.urandom(32), backend=ceremony_backend()
                )
            )
            break
        except RemoteProtocolError as exc:
            by = recorded[index - 1].contributor
            left_out.insert(0, f"contribution {index} by {by} does not verify: {exc}")
            candidates.pop()
    if not candidates:
        raise CeremonyError(
            f"ceremony {ceremony_id}: the key of our own contribution does not verify "
            f"({'; '.join(left_out)}); register again"
        )
    index, key = candidates[-1]
    if left_out:
        logger.warning("ceremony %d: finalizing on %d contribution(s); left out: %s",
                       ceremony_id, index, "; ".join(left_out))  # fmt: skip
    return Choice(key, index, tuple(left_out))


def ceremony_state(info: CeremonyInfo, now: int) -> str:
    """Where a ceremony stands: open, window over (not yet closed), closed (beacon fixed,
    awaiting the final key) or finalized."""
    if info.model_id != 0:
        return "finalized"
    if info.beacon_block != 0:
        return "closed"
    return "open" if now <= info.contribution_deadline else "window over"


def ceremony_json(
    ceremony_id: int,
    info: CeremonyInfo,
    recorded: Sequence[CeremonyContribution],
    now: int,
    keys: CeremonyKeys,
) -> dict[str, Any]:
    """The API's view of a ceremony (``GET /ceremonies/{id}``)."""
    return {
        "id": ceremony_id,
        "state": ceremony_state(info, now),
        "coordinator": info.coordinator,
        "contribution_deadline": info.contribution_deadline,
        "beacon_block": info.beacon_block or None,
        "model_id": info.model_id or None,
        "included": info.included if info.model_id else None,
        "circuit_hash": "0x" + info.circuit_hash.hex(),
        "phase1_sha256": info.phase1_sha256.hex(),
        "initial_key_sha256": info.initial_key_sha256.hex(),
        "contributions": [
            {
                "index": r.index,
                "contributor": r.contributor,
                "hash": r.contribution_hash.hex(),
                "key_sha256": r.key_sha256.hex(),
                "held_here": keys.lookup(r.key_sha256) is not None,
            }
            for r in recorded
        ],
    }
