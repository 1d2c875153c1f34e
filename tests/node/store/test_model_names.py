"""Model names are owners' labels: a name resolves only when one live model has it."""

from __future__ import annotations

import dataclasses

import pytest

from node.api.errors import Conflict
from node.engine.models.records import model_by_ref
from node.store import ModelRecord, Store

ALICE, MALLORY = "0x" + "a1" * 20, "0x" + "4d" * 20


def record(model_id: int, name: str, owner: str, deprecated: bool = False) -> ModelRecord:
    """A model finalized from ceremony ``model_id``."""
    return ModelRecord(
        model_id, name, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 100, 3, owner, deprecated,
        ceremony_id=model_id,
    )  # fmt: skip


def test_a_name_resolves_only_when_one_live_model_has_it(store: Store) -> None:
    store.upsert_model(record(1, "digits_mlp", ALICE))
    assert model_by_ref(store, "digits_mlp") == record(1, "digits_mlp", ALICE)
    assert model_by_ref(store, "1") == record(1, "digits_mlp", ALICE)
    assert model_by_ref(store, "nonesuch") is None
    assert model_by_ref(store, "9") is None
    # mallory registers her own setup under the same name: the name no longer resolves,
    # and the refusal names both by id and owner, so the requester picks one knowingly.
    store.upsert_model(record(2, "digits_mlp", MALLORY))
    with pytest.raises(Conflict, match="ambiguous") as refused:
        model_by_ref(store, "digits_mlp")
    assert f"1 (owner {ALICE})" in str(refused.value)
    assert f"2 (owner {MALLORY})" in str(refused.value)
    assert model_by_ref(store, "2") == record(2, "digits_mlp", MALLORY)  # ids always work
    # a deprecated namesake takes no jobs: the live one is the name's only meaning
    store.upsert_model(dataclasses.replace(record(2, "digits_mlp", MALLORY), deprecated=True))
    assert model_by_ref(store, "digits_mlp") == record(1, "digits_mlp", ALICE)
    store.upsert_model(dataclasses.replace(record(1, "digits_mlp", ALICE), deprecated=True))
    with pytest.raises(Conflict, match="no model that takes jobs has it"):
        model_by_ref(store, "digits_mlp")


def test_a_namesake_without_a_ceremony_does_not_take_the_name(store: Store) -> None:
    """mallory publishes a key of her own making (registerModel, no ceremony) under a
    finalized model's name: the job market would refuse it, and the name still means the
    finalized one."""
    store.upsert_model(record(1, "digits_mlp", ALICE))
    store.upsert_model(dataclasses.replace(record(2, "digits_mlp", MALLORY), ceremony_id=0))
    assert model_by_ref(store, "digits_mlp") == record(1, "digits_mlp", ALICE)
    store.upsert_model(dataclasses.replace(record(1, "digits_mlp", ALICE), deprecated=True))
    with pytest.raises(Conflict, match="no model that takes jobs has it") as refused:
        model_by_ref(store, "digits_mlp")
    assert f"2 (owner {MALLORY}, no ceremony)" in str(refused.value)
