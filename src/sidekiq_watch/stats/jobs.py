"""Job payloads read from Sidekiq's Redis, parsed within bounds: they are written by whoever enqueues.

A payload too large, nested too deep, not JSON, or with a number no JSON consumer can take is
unreadable, named, and skipped: never an exception that would fail the poll (and with it every
rule of the target, or an alert already claimed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..finite_json import NotFiniteNumber, depth_of, loads_finite
from .snapshot import MAX_COUNT, MAX_PLAUSIBLE_SECONDS

# Sidekiq warns about payloads over a few KB; a head-of-queue job is read only for two fields.
MAX_JOB_BYTES = 1024 * 1024
# Deeper than any job's arguments need; the decoder's own limit differs between Python versions
# (3.11 raises RecursionError near 1,000, 3.13 decodes far deeper), so the bound is ours.
MAX_JOB_DEPTH = 64


@dataclass(frozen=True)
class JobPayload:
    """A job's fields, or why they cannot be read (``problem``); never its arguments in a message."""

    fields: dict[str, Any] | None
    problem: str | None = None

    @property
    def job_class(self) -> str | None:
        """The class (ActiveJob's wrapped class first), bounded for display."""
        if self.fields is None:
            return None
        found = self.fields.get("wrapped") or self.fields.get("class")
        return str(found)[:100] if found else None


def parse_job(entry: bytes | str | None) -> JobPayload:
    if entry is None:
        return JobPayload(None, "no job")
    if len(entry) > MAX_JOB_BYTES:
        return JobPayload(None, f"larger than {MAX_JOB_BYTES // 1024} KiB")
    try:
        job = loads_finite(entry)
    except NotFiniteNumber:
        return JobPayload(None, "a number that is not finite")
    except RecursionError:
        return JobPayload(None, "nested too deep")
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError, and integers of too many digits
        return JobPayload(None, "not JSON")
    if not isinstance(job, dict):
        return JobPayload(None, "not a JSON object")
    if depth_of(job) > MAX_JOB_DEPTH:
        return JobPayload(None, "nested too deep")
    return JobPayload(job)


def queue_latency(entry: bytes | str | None, now: float) -> tuple[float | None, str | None]:
    """Seconds since a queue's oldest job was enqueued, or why it cannot be told.

    As ``Sidekiq::Queue#latency``: 0 for an empty queue or a job without ``enqueued_at``, which is
    float seconds up to Sidekiq 7 and integer milliseconds from Sidekiq 8.
    """
    if entry is None:
        return 0.0, None
    payload = parse_job(entry)
    if payload.fields is None:
        return None, payload.problem
    enqueued_at = payload.fields.get("enqueued_at")
    if isinstance(enqueued_at, float):
        latency = now - enqueued_at
    elif isinstance(enqueued_at, int) and not isinstance(enqueued_at, bool):
        if abs(enqueued_at) > MAX_COUNT:  # as a float it would overflow
            return None, "enqueued_at is out of range"
        latency = (now * 1000 - enqueued_at) / 1000.0
    else:
        return 0.0, None
    if not -MAX_PLAUSIBLE_SECONDS < latency < MAX_PLAUSIBLE_SECONDS:
        return None, "enqueued_at is out of range"
    return latency, None
