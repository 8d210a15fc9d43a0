"""One reading of Sidekiq's figures, whatever source it came from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# The scalar figures, in the order Sidekiq Web lists them; then those only Sidekiq's Redis tells.
WEB_FIGURES = (
    "processed",
    "failed",
    "busy",
    "processes",
    "enqueued",
    "scheduled",
    "retries",
    "dead",
    "default_latency",
)
REDIS_FIGURES = (
    "live_processes",
    "quiet_processes",
    "scheduled_overdue_seconds",
    "retry_overdue_seconds",
    "redis_memory_percent",
    "redis_evicts",
    "redis_evicted_keys_total",
    "longest_running_seconds",
    "dead_added",
)
FIGURES = WEB_FIGURES + REDIS_FIGURES

# Redis counts are signed 64-bit: a larger figure is no Sidekiq's, and would overflow as a float.
MAX_COUNT = 2**63 - 1
# A latency beyond this (about 32 years) is a clock or a payload gone wrong, not a queue.
MAX_PLAUSIBLE_SECONDS = 1e9


@dataclass(frozen=True)
class Snapshot:
    """Figures as read; a figure the source does not provide is None, never a made-up zero."""

    shape: str
    processed: int | None = None
    failed: int | None = None
    busy: int | None = None
    processes: int | None = None
    enqueued: int | None = None
    scheduled: int | None = None
    retries: int | None = None
    dead: int | None = None
    default_latency: float | None = None
    # From each process's heartbeat (Redis sources only): `processes` counts a process until its hash
    # expires, a minute after a kill -9; these count only those that beat within that minute.
    live_processes: int | None = None
    quiet_processes: int | None = None  # told to stop fetching (TSTP), still alive
    # How far past due the oldest scheduled / retry entry is: grows only when no scheduler runs.
    scheduled_overdue_seconds: float | None = None
    retry_overdue_seconds: float | None = None
    redis_memory_percent: float | None = None  # used_memory / maxmemory x 100 (absent without a limit)
    redis_evicts: int | None = None  # 1 when maxmemory-policy may evict Sidekiq's keys
    redis_evicted_keys_total: int | None = (
        None  # INFO stats evicted_keys: every key evicted since Redis started
    )
    # Jobs that entered the dead set since the previous poll (by their death time): counts on at the
    # dead set's cap, where its size no longer moves. Absent on a first poll.
    dead_added: int | None = None
    # How long the oldest job now running has run (0 when none runs), and which: not a figure.
    longest_running_seconds: float | None = None
    longest_running_job: str | None = None
    queues: dict[str, int] | None = None
    queue_latencies: dict[str, float] | None = None
    # The class of each queue's oldest job (Redis sources): what a latency alert names. Not a figure.
    oldest_jobs: dict[str, str] | None = None
    server_time: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def figure(self, name: str) -> float | None:
        """A figure by name: a scalar (``retries``) or a queue's size (``queue:NAME``)."""
        if name.startswith("queue:"):
            return None if self.queues is None else self.queues.get(name.removeprefix("queue:"))
        if name.startswith("latency:"):
            lat = self.queue_latencies
            return None if lat is None else lat.get(name.removeprefix("latency:"))
        if name not in FIGURES:
            raise KeyError(name)
        value: float | None = getattr(self, name)
        return value

    def figures(self) -> dict[str, float]:
        """Every figure present, flattened: scalars, then ``queue:NAME`` and ``latency:NAME``."""
        found: dict[str, float] = {}
        for name in FIGURES:
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        for queue, size in sorted((self.queues or {}).items()):
            found[f"queue:{queue}"] = size
        for queue, latency in sorted((self.queue_latencies or {}).items()):
            found[f"latency:{queue}"] = latency
        return found

    def out_of_range(self) -> str | None:
        """The first figure no Sidekiq can have (negative, not finite, beyond a 64-bit count or a
        plausible latency), or None. Checked once for every source, before any rule or message."""
        for name, value in self.figures().items():
            latency = name == "default_latency" or name.startswith("latency:") or name.endswith("_seconds")
            limit = MAX_PLAUSIBLE_SECONDS if latency else MAX_COUNT
            if isinstance(value, bool) or not isinstance(value, int | float):
                return name
            if isinstance(value, float) and not math.isfinite(value):
                return name
            if not 0 <= value <= limit:
                return name
        return None
