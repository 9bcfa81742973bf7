"""arq jobs as JSON, so that reading the queue can never run code.

arq stores each job (and each kept result) as one serialised dict and reads it back with
`pickle` unless told otherwise; whoever can write to Redis could then run code in the worker.
Every arq `Worker` and `ArqRedis` client the service creates takes these two functions as its
`job_serializer` and `job_deserializer`. A job that is not a JSON object of arq's shape (a
pickled one, say) makes `job_from_json` raise; arq then logs "deserializing job ... failed",
drops the job without running it and goes on with the next one.
"""

from __future__ import annotations

import json
from typing import Any, Final

# The keys arq writes for every job: try, function, args, kwargs, enqueue time (ms).
_JOB_KEYS: Final = frozenset({"t", "f", "a", "k", "et"})


class NotAJsonJob(ValueError):
    """What Redis held is not a job this service wrote."""


def job_to_json(job: dict[str, Any]) -> bytes:
    """arq's job (or result) dict as compact JSON; an argument JSON cannot hold raises TypeError.

    A failed job's result carries the exception that ended it, kept as its type and message.
    """
    return json.dumps(job, separators=(",", ":"), allow_nan=False, default=_failure_text).encode()


def job_from_json(data: bytes) -> dict[str, Any]:
    """The dict arq wrote with `job_to_json`, checked for arq's shape; NotAJsonJob otherwise."""
    try:
        decoded = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise NotAJsonJob(f"an arq job must be JSON ({type(error).__name__})") from None
    if not isinstance(decoded, dict) or not decoded.keys() >= _JOB_KEYS:
        raise NotAJsonJob("an arq job must be a JSON object with arq's keys")
    job: dict[str, Any] = decoded
    if not (
        isinstance(job["f"], str)
        and isinstance(job["a"], list)
        and isinstance(job["k"], dict)
        and (job["t"] is None or _is_int(job["t"]))
        and _is_int(job["et"])
    ):
        raise NotAJsonJob("an arq job's fields do not have arq's types")
    job["a"] = tuple(job["a"])  # arq hands a job its arguments as a tuple
    return job


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _failure_text(value: object) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _refuse_constant(name: str) -> float:
    raise NotAJsonJob(f"an arq job holds no {name}")
