"""arq jobs as JSON: arq's own job functions round-trip through the codec, and nothing else gets in.

The pickled jobs below are built the way arq builds them by default, to prove that reading one
never unpickles it; the service itself never pickles anything.
"""

from __future__ import annotations

import json
import pickle  # noqa: TID251 - the attack under test: a job that runs code when unpickled
from typing import Any

import pytest
from arq.jobs import (
    DeserializationError,
    deserialize_job,
    deserialize_job_raw,
    deserialize_result,
    serialize_job,
    serialize_result,
)
from hypothesis import given, strategies as st

from integrations.redis.jobs import NotAJsonJob, job_from_json, job_to_json

# What unpickling the hostile payload does: it appends here, which the tests then read.
MARKS: list[str] = []


def _leave_a_mark() -> None:
    MARKS.append("unpickled")


class _RunsCodeWhenUnpickled:
    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_leave_a_mark, ())


def pickled_job(function: str = "wake") -> bytes:
    """A job as arq's default serialiser writes it, carrying a payload that runs when read."""
    return serialize_job(function, (_RunsCodeWhenUnpickled(),), {}, 1, 1_700_000_000_000)


def test_a_job_round_trips_through_arqs_own_functions() -> None:
    data = serialize_job("wake", ("inbound",), {"x": 1}, 2, 1_700_000_000_123, serializer=job_to_json)

    assert json.loads(data) == {"t": 2, "f": "wake", "a": ["inbound"], "k": {"x": 1}, "et": 1_700_000_000_123}
    job = deserialize_job(data, deserializer=job_from_json)
    assert (job.function, job.args, job.kwargs, job.job_try) == ("wake", ("inbound",), {"x": 1}, 2)
    assert deserialize_job_raw(data, deserializer=job_from_json) == (
        "wake",
        ("inbound",),
        {"x": 1},
        2,
        1_700_000_000_123,
    )


def test_a_pickled_job_is_refused_without_being_unpickled() -> None:
    MARKS.clear()
    hostile = pickled_job()
    pickle.loads(hostile)  # noqa: S301 - proves the payload is live: read by pickle, it runs
    assert MARKS == ["unpickled"]
    MARKS.clear()

    with pytest.raises(DeserializationError):
        deserialize_job_raw(hostile, deserializer=job_from_json)
    with pytest.raises(NotAJsonJob, match="must be JSON"):
        job_from_json(hostile)
    assert MARKS == []


def test_a_failed_jobs_result_keeps_the_error_as_text() -> None:
    data = serialize_result(
        "wake", (), {}, 1, 1, False, ValueError("no such kind"), 2, 3, "ref", "arq:queue", "j1",
        serializer=job_to_json,
    )  # fmt: skip

    assert data is not None
    result = deserialize_result(data, deserializer=job_from_json)
    assert (result.success, result.result) == (False, "ValueError: no such kind")


def test_an_argument_json_cannot_hold_is_refused_when_queued() -> None:
    with pytest.raises(TypeError, match="bytes"):
        job_to_json({"t": 1, "f": "wake", "a": [b"raw"], "k": {}, "et": 1})
    with pytest.raises(ValueError, match="Out of range float"):
        job_to_json({"t": 1, "f": "wake", "a": [float("nan")], "k": {}, "et": 1})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        b"[1, 2]",
        b'"wake"',
        b'{"f": "wake"}',
        b'{"t": 1, "f": 7, "a": [], "k": {}, "et": 1}',
        b'{"t": 1, "f": "wake", "a": "inbound", "k": {}, "et": 1}',
        b'{"t": 1, "f": "wake", "a": [], "k": [], "et": 1}',
        b'{"t": true, "f": "wake", "a": [], "k": {}, "et": 1}',
        b'{"t": 1, "f": "wake", "a": [], "k": {}, "et": 1.5}',
        b'{"t": 1, "f": "wake", "a": [NaN], "k": {}, "et": 1}',
        b'{"t": 1, "f": "wake", "a": [Infinity], "k": {}, "et": 1}',
        b"[" * 100_000,
    ],
)
def test_anything_but_a_json_job_of_arqs_shape_is_refused(data: bytes) -> None:
    with pytest.raises(NotAJsonJob):
        job_from_json(data)


def _check_read(data: bytes) -> None:
    try:
        job = job_from_json(data)
    except NotAJsonJob:
        return
    assert isinstance(job["f"], str)
    assert isinstance(job["a"], tuple)
    assert isinstance(job["k"], dict)
    assert isinstance(job["et"], int)


@given(st.binary(max_size=300))
def test_any_bytes_are_a_job_or_refused_never_an_other_error(data: bytes) -> None:
    _check_read(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)
_FIELDS = st.fixed_dictionaries({}, optional=dict.fromkeys(("t", "f", "a", "k", "et"), _JSON))


@given(_FIELDS, st.dictionaries(st.text(max_size=4), _JSON, max_size=3))
def test_any_json_object_is_a_job_or_refused_never_an_other_error(
    fields: dict[str, Any], extra: dict[str, Any]
) -> None:
    _check_read(json.dumps({**extra, **fields}).encode())
