"""How the API shows a requester's job: state, terms, bids, outputs, transactions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from node.artifacts import MANIFEST as MANIFEST_FILE
from node.store import BidDirection, JobRecord, Role, Store
from protocol.market import RequesterJob, RequesterState
from protocol.market.requester import TERMINAL

S = RequesterState


def _address(raw: bytes | None) -> str | None:
    return None if raw is None else to_checksum_address("0x" + raw.hex())


def _replacement(store: Store, job: RequesterJob) -> int | None:
    """The local id of the job that replaced ``job`` (a resubmission), if any."""
    if job.replaced_by is None:
        return None
    record = store.find_job(job.replaced_by, Role.REQUESTER)
    return None if record is None else record.key


def _reveal_of(store: Store, model_id: int | None) -> str:
    """What the model's public outputs are (its manifest's reveal; logits if unknown)."""
    model = None if model_id is None else store.get_model(model_id)
    if model is None or model.circuit_dir is None:
        return "logits"
    try:
        manifest = json.loads((Path(model.circuit_dir) / MANIFEST_FILE).read_text())
        reveal = manifest["quantization"].get("reveal", "logits")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "logits"
    return reveal if isinstance(reveal, str) else "logits"


def job_json(
    store: Store, record: JobRecord, txs: dict[str, Any], *, brief: bool = False
) -> dict[str, Any]:
    """One job as the API answers it (amounts as decimal strings of wei, times as unix
    seconds: clients show them as local times and durations)."""
    job = record.job
    assert isinstance(job, RequesterJob)
    answer: dict[str, Any] = {
        "id": record.key,
        "job_id": job.job_id,
        "model_id": record.model_id,
        "state": job.state.value,
        "final": job.state in TERMINAL,
        "max_fee": str(job.max_fee),
        "collateral": str(job.collateral),
        "created_at": record.created_at,
        "bid_deadline": job.bid_deadline,
        "accept_window": job.accept_window,
        "proof_window": job.proof_window,
        "accept_deadline": job.accept_deadline,
        "proof_deadline": job.proof_deadline,
        "round": job.round,
        "awards": job.awards,
        "slashes": job.slashes,
        "prover": _address(job.prover),
        "fee": None if job.fee is None else str(job.fee),
        "output": None if record.output is None else list(record.output),
        "output_q": None if record.output_q is None else list(record.output_q),
        "tx": txs,
        "replaced_by": _replacement(store, job),
    }
    if brief or job.job_id is None:
        answer["bids"] = [] if not brief else None
        return answer
    answer["reveal"] = _reveal_of(store, record.model_id)
    answer["bids"] = [
        {
            "prover": _address(b.bid.prover),
            "fee": str(b.bid.fee),
            "expiry": b.bid.expiry,
            "source": b.source.value,
            "status": b.status.value,
            "reason": b.reason,
        }
        for b in store.bids_for_job(job.job_id, BidDirection.RECEIVED)
    ]
    return answer
