"""Why jobs fail: the newest entries of Sidekiq's retry or dead set, grouped by job and error class.

Only the class names and one short error message per group are kept: job arguments never leave
here (they may carry personal data).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .jobs import parse_job

# How many of a set's newest entries are read, and how many groups a message shows.
SAMPLE_SIZE = 200
GROUPS_SHOWN = 3
MESSAGE_CHARS = 120
# Sidekiq's sorted sets that "why" reads, by the figure that counts them.
SETS = {"retries": "retry", "dead": "dead"}
# Figures explained by another's set: deaths since the last poll are the dead set's newest entries.
EXPLAINED_BY = {"dead_added": "dead"}


@dataclass(frozen=True)
class FailureGroup:
    """Jobs of one class failing with one error class, among the sampled entries."""

    job_class: str
    error_class: str
    count: int
    error_message: str


@dataclass(frozen=True)
class FailureSummary:
    """The groups of one set, largest first; ``sampled`` entries were read."""

    groups: tuple[FailureGroup, ...]
    sampled: int


def summarize(entries: Iterable[bytes | str]) -> FailureSummary:
    """Group raw job payloads (JSON) by (job class, error class); unreadable entries are skipped."""
    counts: Counter[tuple[str, str]] = Counter()
    messages: dict[tuple[str, str], str] = {}
    sampled = 0
    for entry in entries:
        sampled += 1
        payload = parse_job(entry)
        job = payload.fields
        if job is None:
            continue
        job_class = payload.job_class or "?"  # ActiveJob's wrapped class first
        error_class = str(job.get("error_class") or "?")[:100]
        key = (job_class, error_class)
        counts[key] += 1
        messages.setdefault(key, " ".join(str(job.get("error_message") or "").split())[:MESSAGE_CHARS])
    groups = tuple(
        FailureGroup(job_class, error_class, count, messages[(job_class, error_class)])
        for (job_class, error_class), count in counts.most_common(GROUPS_SHOWN)
    )
    return FailureSummary(groups, sampled)
