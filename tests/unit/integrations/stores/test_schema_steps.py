"""The migration steps as data: numbered in order, and everything the schema declares is either
what the release before versions created or brought by a step (so an index added without a
step, which existing stores would never get, fails here)."""

from __future__ import annotations

from hypothesis import given, strategies as st

from integrations.stores.migrations.four_digit_years import repaired
from integrations.stores.migrations.state import SchemaState
from integrations.stores.migrations.steps import BASELINE, STEPS
from integrations.stores.schema import COLLECTIONS


def test_steps_are_numbered_one_by_one_from_one() -> None:
    assert [step.number for step in STEPS] == list(range(1, len(STEPS) + 1))
    assert len({step.name for step in STEPS}) == len(STEPS)


def test_every_declared_collection_and_index_is_in_the_baseline_or_a_step() -> None:
    brought_collections = {name for step in STEPS for name in step.collections}
    brought_indexes = {name for step in STEPS for name in step.indexes}
    for collection, specs in COLLECTIONS.items():
        assert collection in BASELINE or collection in brought_collections, collection
        for spec in specs:
            baseline = BASELINE.get(collection, frozenset())
            assert spec.name in baseline or spec.name in brought_indexes, spec.name
    declared_indexes = {spec.name for specs in COLLECTIONS.values() for spec in specs}
    assert brought_indexes <= declared_indexes
    assert brought_collections <= set(COLLECTIONS)


def test_what_each_state_says_and_asks_for() -> None:
    empty, older, current, newer = (SchemaState(v, STEPS) for v in (None, 0, len(STEPS), len(STEPS) + 1))
    assert empty.empty
    assert not empty.pending
    assert "subgate migrate" in empty.describe()
    assert older.pending == STEPS
    assert "run `subgate migrate`" in older.describe()
    assert current.current
    assert not current.pending
    assert newer.newer
    assert not newer.pending
    assert "newer than this release" in newer.describe()


def test_short_years_are_padded_in_time_fields_only() -> None:
    doc = {
        "id": "cus_1",
        "version": 3,
        "merchant_id": "mer_1",
        "email": "a@example.com",
        "name": "999-12-31T00:00:00.000000Z",  # a merchant's text that looks like a time
        "created_at": "999-12-31T23:59:59.000000Z",
        "updated_at": "2025-01-01T00:00:00.000000Z",
    }
    fixed = repaired("customers", doc)
    assert fixed is not None
    assert fixed["created_at"] == "0999-12-31T23:59:59.000000Z"
    assert fixed["name"] == doc["name"]
    assert fixed["updated_at"] == doc["updated_at"]
    assert repaired("customers", fixed) is None  # nothing left to do


def test_nested_times_and_time_named_fields_beside_the_value_are_padded() -> None:
    delivery = {
        "id": "dlv_1",
        "version": 0,
        "attempts": [{"at": "5-01-01T00:00:00.000000Z", "status_code": 500, "duration_ms": 1, "error": None}],
    }
    fixed = repaired("deliveries", delivery)
    assert fixed is not None
    assert fixed["attempts"][0]["at"] == "0005-01-01T00:00:00.000000Z"
    heartbeat = {"id": "w", "version": 0, "heartbeat_at": "99-01-01T00:00:00.000000Z", "alive": True}
    assert (repaired("workers", heartbeat) or {})["heartbeat_at"] == "0099-01-01T00:00:00.000000Z"


@given(st.text(max_size=40))
def test_text_beside_the_times_is_never_changed(text: str) -> None:
    doc = {"id": "cus_1", "version": 0, "name": text, "email": text, "description": text}
    assert repaired("customers", doc) is None
    assert repaired("endpoints", doc) is None
