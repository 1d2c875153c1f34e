"""What a requester's job shows of its model's public outputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from node.engine.requester.views import _reveal_of
from node.store import ModelRecord, Store
from tests.node.store.conftest import CHAIN_ID, CONTRACTS


def test_the_reveal_comes_from_the_held_models_manifest(tmp_path: Path) -> None:
    with Store.open(tmp_path / "node.db", chain_id=CHAIN_ID, contracts=CONTRACTS) as store:
        _check(store, tmp_path)


def _check(store: Store, tmp_path: Path) -> None:
    held = tmp_path / "models" / "4"
    held.mkdir(parents=True)
    (held / "manifest.json").write_text(json.dumps({"quantization": {"reveal": "argmax"}}))
    base = ModelRecord(4, "digits", b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 10, 2, "0xabc")
    store.upsert_model(dataclasses.replace(base, circuit_dir=str(held)))
    store.upsert_model(dataclasses.replace(base, model_id=5))  # not held here
    broken = tmp_path / "models" / "6"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    store.upsert_model(dataclasses.replace(base, model_id=6, circuit_dir=str(broken)))
    assert _reveal_of(store, 4) == "argmax"
    assert _reveal_of(store, 5) == "logits"
    assert _reveal_of(store, 6) == "logits"
    assert _reveal_of(store, None) == "logits"
    assert _reveal_of(store, 99) == "logits"
