"""Reading the contracts' events from the chain in bounded, confirmed block ranges.

Theory of operation. ``EventWatcher.fetch_events(from_block)`` returns every event
of the watched contracts from ``from_block`` up to the newest block that has
``confirmations`` blocks on top of it, in (block, log index) order, and the block
to resume from next time (the caller stores it: a restarted node resumes there).

- Bounded ranges: ``eth_getLogs`` is asked for at most ``max_range`` blocks at a
  time; when a provider answers "range too large" / "too many results", the span
  is halved and the same range retried, down to one block; after a success it
  doubles again, up to ``max_range``.
- Confirmations: blocks newer than the confirmed head are never consumed, so a
  shallow reorg cannot remove an event the caller has acted on. Asked for, those
  unconfirmed events come back flagged ``confirmed=False`` without moving the resume
  point: the unconfirmed tail is read again on every poll until it is deep enough.
- Deep reorgs: the hash of the last block a batch covered is remembered (and
  returned as the batch's ``anchor``, for ``resume_after`` after a restart); if
  that block has been replaced when the next batch starts after it,
  ``ChainReorg`` is raised rather than silently skipping events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.types import FilterParams, LogReceipt

from node.chain.contracts import ABI
from node.chain.errors import ChainError, ChainReorg, normalise_abi_value

# Phrases hosted providers use when a getLogs query is too wide (Alchemy, Infura,
# QuickNode, geth's --rpc.logs limits, Erigon): each means "ask for fewer blocks".
RANGE_ERROR_HINTS = (
    "range",
    "too many",
    "too large",
    "limit",
    "exceed",
    "response size",
    "10000 results",
)
# Successful queries in a row before a halved span is doubled again: the span
# recovers after a dense stretch of blocks without probing the limit every time.
GROW_AFTER = 8


@dataclass(frozen=True)
class ChainEvent:
    """One decoded contract event."""

    contract: str
    name: str
    args: Mapping[str, Any]
    block_number: int
    log_index: int
    tx_hash: str
    block_hash: str
    confirmed: bool = True

    @property
    def position(self) -> tuple[int, int]:
        """(block number, log index): the chain's order of events."""
        return (self.block_number, self.log_index)


@dataclass(frozen=True)
class EventBatch:
    """Events of a block range and where to resume."""

    events: tuple[ChainEvent, ...]
    next_block: int
    confirmed_head: int
    # (number, hash) of the last block covered; stored with next_block, it lets a
    # restarted watcher detect a reorg that happened while it was down.
    anchor: tuple[int, str] | None = None


@dataclass(frozen=True)
class _EventType:
    contract: str
    name: str
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


def _event_type(contract: str, entry: Mapping[str, Any]) -> _EventType:
    inputs = entry.get("inputs", [])
    fields = [
        (str(arg["name"]), collapse_if_tuple(dict(arg)), bool(arg["indexed"])) for arg in inputs
    ]
    return _EventType(
        contract=contract,
        name=str(entry["name"]),
        indexed=tuple((name, typ) for name, typ, indexed in fields if indexed),
        data=tuple((name, typ) for name, typ, indexed in fields if not indexed),
    )


def _is_static(abi_type: str) -> bool:
    return (
        abi_type not in ("string", "bytes") and not abi_type.endswith("]") and "(" not in abi_type
    )


class EventDecoder:
    """Decodes raw logs of known contracts into ``ChainEvent``."""

    def __init__(self, contracts: Mapping[str, tuple[str, ABI]]) -> None:
        self.addresses = {Web3.to_checksum_address(a): n for n, (a, _) in contracts.items()}
        self._types: dict[tuple[str, bytes], _EventType] = {}
        for name, (address, abi) in contracts.items():
            for entry in abi:
                if entry.get("type") == "event" and not entry.get("anonymous"):
                    topic = event_abi_to_log_topic(dict(entry))  # type: ignore[arg-type]
                    key = (Web3.to_checksum_address(address), bytes(topic))
                    self._types[key] = _event_type(name, entry)

    def decode(self, log: LogReceipt, *, confirmed: bool = True) -> ChainEvent | None:
        """The event in ``log``, or None for a log of an unknown contract or event."""
        topics = [bytes(t) for t in log["topics"]]
        kind = self._types.get((Web3.to_checksum_address(log["address"]), topics[0]))
        if kind is None:
            return None
        args: dict[str, Any] = {}
        for (name, typ), topic in zip(kind.indexed, topics[1:], strict=True):
            # Indexed dynamic values are stored as their keccak hash only.
            args[name] = (
                normalise_abi_value(typ, abi_decode([typ], topic)[0]) if _is_static(typ) else topic
            )
        values = abi_decode([typ for _, typ in kind.data], bytes(log["data"]))
        for (name, typ), value in zip(kind.data, values, strict=True):
            args[name] = normalise_abi_value(typ, value)
        return ChainEvent(
            contract=kind.contract,
            name=kind.name,
            args=args,
            block_number=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            block_hash="0x" + bytes(log["blockHash"]).hex(),
            confirmed=confirmed,
        )


def is_range_error(exc: Web3RPCError) -> bool:
    """True when a getLogs error means the query covered too much."""
    text = str(exc.message).lower()
    return any(hint in text for hint in RANGE_ERROR_HINTS)


class EventWatcher:
    """Fetches the watched contracts' events in bounded, confirmed ranges."""

    def __init__(
        self,
        w3: Web3,
        contracts: Mapping[str, tuple[str, ABI]],
        *,
        confirmations: int = 2,
        max_range: int = 2000,
    ) -> None:
        if confirmations < 0 or max_range < 1:
            raise ValueError("confirmations must be >= 0 and max_range >= 1")
        self.w3 = w3
        self.decoder = EventDecoder(contracts)
        self.confirmations = confirmations
        self.max_range = max_range
        self.span = max_range
        self._successes = 0
        self._last_seen: tuple[int, bytes] | None = None

    def fetch_events(
        self, from_block: int, to_block: int | None = None, *, include_unconfirmed: bool = False
    ) -> EventBatch:
        """Events from ``from_block`` to ``to_block`` (default: the confirmed head).

        With ``include_unconfirmed`` (and no ``to_block``) the events of the blocks
        above the confirmed head come too, flagged ``confirmed=False``; ``next_block``
        stays below them, so they are read again until confirmed.
        """
        head = int(self.w3.eth.block_number)
        confirmed_head = head - self.confirmations
        end = confirmed_head if to_block is None else min(to_block, confirmed_head)
        self._check_continuity(from_block)
        events: list[ChainEvent] = []
        if end >= from_block:
            # Taken before reading: a reorg during the reads shows up at the next check.
            end_hash = bytes(self.w3.eth.get_block(end)["hash"])
            events = self._read(from_block, end, confirmed=True)
            self._last_seen = (end, end_hash)
        if include_unconfirmed and to_block is None:
            tail_start = max(from_block, confirmed_head + 1)
            events += self._read(tail_start, head, confirmed=False)
        events.sort(key=lambda event: event.position)
        anchor = (self._last_seen[0], "0x" + self._last_seen[1].hex()) if self._last_seen else None
        return EventBatch(tuple(events), max(from_block, end + 1), confirmed_head, anchor)

    def resume_after(self, anchor: tuple[int, str]) -> None:
        """Start from a stored batch's ``anchor``: the next fetch checks that block first."""
        number, block_hash = anchor
        self._last_seen = (number, bytes.fromhex(block_hash.removeprefix("0x")))

    def _check_continuity(self, from_block: int) -> None:
        if self._last_seen is None or self._last_seen[0] != from_block - 1:
            return
        number, seen_hash = self._last_seen
        if bytes(self.w3.eth.get_block(number)["hash"]) != seen_hash:
            self._last_seen = None
            raise ChainReorg(number)

    def _read(self, start: int, end: int, *, confirmed: bool) -> list[ChainEvent]:
        events: list[ChainEvent] = []
        while start <= end:
            stop = min(start + self.span - 1, end)
            try:
                logs = self._get_logs(start, stop)
            except Web3RPCError as exc:
                if not is_range_error(exc) or self.span == 1:
                    raise ChainError(
                        f"eth_getLogs for blocks {start}-{stop} failed: {exc}"
                    ) from exc
                self.span, self._successes = max(1, self.span // 2), 0
                continue
            for log in logs:
                if log.get("removed"):
                    continue
                event = self.decoder.decode(log, confirmed=confirmed)
                if event is not None:
                    events.append(event)
            start = stop + 1
            self._successes += 1
            if self._successes >= GROW_AFTER:
                self.span, self._successes = min(self.max_range, self.span * 2), 0
        return events

    def _get_logs(self, start: int, stop: int) -> Sequence[LogReceipt]:
        params = {
            "fromBlock": start,
            "toBlock": stop,
            "address": sorted(self.decoder.addresses),
        }
        return self.w3.eth.get_logs(cast(FilterParams, params))
