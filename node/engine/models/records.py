"""The model role's records and request checks: API JSON, store rows, names and paths.

A model being registered waits in ``models/.pending-<manifest hash>`` with its
name beside it in ``.pending-<manifest hash>.name`` (the manifest's hash is fixed
before the name is known to the registry), so a restarted node that finds its
registration on-chain can adopt the folder under the name the user gave.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from node.api.errors import BadRequest, Conflict
from node.chain.types import ModelSpec
from node.p2p.gossip import GossipMessage
from node.store import ModelRecord, Store
from protocol.messages import Verified

MAX_NAME_BYTES = 64  # ModelAnnouncement.name: Text(64)


def model_json(record: ModelRecord) -> dict[str, Any]:
    """A model as the API answers it (hashes as hex)."""
    return {
        "id": record.model_id,
        "name": record.name,
        "onnx_sha256": record.onnx_sha256.hex(),
        "circuit_hash": record.circuit_id.hex(),
        "manifest_hash": record.manifest_hash.hex(),
        "constraints": record.constraint_count,
        "n_public": record.n_public,
        "owner": record.owner,
        "deprecated": record.deprecated,
        "held": record.circuit_dir is not None,
        "dir": record.circuit_dir,
        "registered_tx": record.registered_tx,
        "ceremony": ceremony_json(record),
    }


def ceremony_json(record: ModelRecord) -> dict[str, Any] | None:
    """Where the model's key comes from, as this node knows it: None for a key registered
    without a ceremony (nobody can tell who holds its toxic waste)."""
    if record.ceremony_id == 0:
        return None
    contributors = None if record.transcript is None else list(record.transcript)
    return {"id": record.ceremony_id, "verified": contributors is not None,
            "contributors": contributors}  # fmt: skip


def held_dir(record: ModelRecord | None) -> Path | None:
    """The record's circuit directory if it is there."""
    if record is None or record.circuit_dir is None:
        return None
    path = Path(record.circuit_dir)
    return path if path.is_dir() else None


def model_record(
    model_id: int,
    name: str,
    spec: ModelSpec,
    owner: str,
    held: str | None,
    tx: str | None,
    ceremony_id: int = 0,
    transcript: tuple[str, ...] | None = None,
) -> ModelRecord:
    """The store row of a registered model (``held``: its circuit directory here)."""
    return ModelRecord(
        model_id, name, spec.onnx_sha256, spec.circuit_hash, spec.manifest_hash,
        spec.constraint_count, spec.n_public, owner, False, held, tx, ceremony_id, transcript,
    )  # fmt: skip


def replace_record(record: ModelRecord, **changes: Any) -> ModelRecord:
    """``record`` with ``changes``."""
    return dataclasses.replace(record, **changes)


def spec_json(spec: ModelSpec) -> dict[str, Any]:
    """A registry entry's hashes and counts as JSON (hex hashes)."""
    return {
        "onnx_sha256": spec.onnx_sha256.hex(),
        "circuit_hash": spec.circuit_hash.hex(),
        "manifest_hash": spec.manifest_hash.hex(),
        "n_public": spec.n_public,
        "constraints": spec.constraint_count,
    }


def signer_of(inbound: GossipMessage) -> str:
    """The checksummed account that signed a gossip envelope."""
    assert isinstance(inbound.message, Verified)
    return to_checksum_address(inbound.message.sender)


def checked_name(value: object) -> str:
    """``value`` as a model name, or 400: printable, at most 64 bytes, not just digits."""
    if not isinstance(value, str) or not value or not value.isprintable():
        raise BadRequest("the model needs a --name: printable text, e.g. digits-mlp")
    if not usable_name(value):
        raise BadRequest(f"a model name is at most {MAX_NAME_BYTES} bytes and not just digits")
    return value


def usable_name(name: str) -> bool:
    """Whether ``name`` can name a model or ceremony: printable, 1 to 64 bytes, not just
    digits (those read as ids). Names from the chain that are not are ignored."""
    return (
        bool(name)
        and name.isprintable()
        and len(name.encode()) <= MAX_NAME_BYTES
        and (not name.isdigit())
    )


def local_file(value: object, what: str) -> Path:
    """``value`` as an existing file given by absolute path, or 400."""
    if not isinstance(value, str) or not Path(value).is_absolute():
        raise BadRequest(f"{what} must be an absolute path on the daemon's machine")
    path = Path(value)
    if not path.is_file():
        raise BadRequest(f"{what} file not found: {path}")
    return path


def name_file(pending: Path) -> Path:
    """Where the name of the pending registration in ``pending`` is kept."""
    return pending.with_name(pending.name + ".name")


def write_name(pending: Path, name: str) -> None:
    """Keep ``name`` beside the pending folder."""
    name_file(pending).write_text(name, encoding="utf-8")


def read_name(pending: Path) -> str:
    """The name kept beside the pending folder, or "" if there is none."""
    try:
        return name_file(pending).read_text(encoding="utf-8")
    except OSError:
        return ""


def model_by_ref(store: Store, ref: str) -> ModelRecord | None:
    """The model an id or a name names; None for an unknown id or name.

    Names are the owners' labels, not unique on-chain: a name resolves only when
    exactly one model that takes jobs (finalized from a ceremony, not deprecated) has
    it, so nobody captures the requesters who name a model by registering another
    under the same name. Otherwise Conflict lists the candidates by id and owner.
    """
    if ref.isdigit():
        return store.get_model(int(ref))
    named = store.models_named(ref)
    live = [m for m in named if not m.deprecated and m.ceremony_id]
    if len(live) == 1:
        return live[0]
    if not named:
        return None
    candidates = "; ".join(f"{m.model_id} (owner {m.owner}{_unusable(m)})" for m in named)
    raise Conflict(
        f"the name {ref!r} is ambiguous: "
        f"{'no model that takes jobs has it' if not live else f'{len(live)} models have it'}; "
        f"name one by id: {candidates}"
    )


def _unusable(model: ModelRecord) -> str:
    """Why ``model`` takes no jobs, as a suffix ("" when it does)."""
    if model.deprecated:
        return ", deprecated"
    return "" if model.ceremony_id else ", no ceremony"
