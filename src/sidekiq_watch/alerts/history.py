"""A short history of each target's figures: rates between polls, change, sparklines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SPARKS = "▁▂▃▄▅▆▇█"
DEFAULT_HISTORY_SIZE = 24
# Counters Sidekiq only ever increases (until someone resets the stats), and their rate names.
COUNTERS = {"failed": "failed_per_minute", "processed": "processed_per_minute"}
# Counters whose growth since the previous poll is the figure (not a rate): a counter that went back
# (Redis restarted) counts from zero.
GROWTH = {"redis_evicted_keys_total": "redis_evicted_keys"}


@dataclass(frozen=True)
class Point:
    at: float
    figures: Mapping[str, float]


@dataclass(frozen=True)
class History:
    """The last few polls' figures, oldest first."""

    points: tuple[Point, ...] = field(default=())

    def latest(self) -> Point | None:
        return self.points[-1] if self.points else None

    def appended(self, point: Point, size: int = DEFAULT_HISTORY_SIZE) -> History:
        return History((*self.points, point)[-size:])

    def series(self, figure: str) -> list[float]:
        return [p.figures[figure] for p in self.points if figure in p.figures]

    def as_list(self) -> list[list[object]]:
        return [[p.at, dict(p.figures)] for p in self.points]

    @classmethod
    def from_list(cls, raw: object) -> History:
        points = []
        for item in raw if isinstance(raw, list) else []:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict):
                points.append(Point(float(item[0]), {str(k): float(v) for k, v in item[1].items()}))
        return cls(tuple(points))


def rates(figures: Mapping[str, float], now: float, previous: Point | None) -> dict[str, float]:
    """Figures that compare two polls: per-minute rates of Sidekiq's counters (none across a stats
    reset), and ``stalled``.

    ``stalled`` is 1 when jobs wait (enqueued > 0) while none runs (busy 0) and none completed since
    the previous poll: what a dead Sidekiq looks like from any source, even Sidekiq Web's /stats,
    whose ``processes`` keeps counting processes killed with -9 until something prunes the set.
    A source without those figures (a hand-written endpoint) cannot tell, and says nothing.
    """
    if previous is None or now <= previous.at:
        return {}
    minutes = (now - previous.at) / 60
    found = {}
    for counter, rate_name in COUNTERS.items():
        if counter in figures and counter in previous.figures:
            delta = figures[counter] - previous.figures[counter]
            if delta >= 0:
                found[rate_name] = delta / minutes
    for counter, name in GROWTH.items():
        if counter in figures and counter in previous.figures:
            grown = figures[counter] - previous.figures[counter]
            found[name] = grown if grown >= 0 else figures[counter]
    if all(name in figures for name in ("enqueued", "busy")) and "processed_per_minute" in found:
        idle = figures["busy"] == 0 and found["processed_per_minute"] == 0
        found["stalled"] = 1.0 if idle and figures["enqueued"] > 0 else 0.0
    return found


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[0] * len(values)
    scale = (len(SPARKS) - 1) / (high - low)
    return "".join(SPARKS[round((v - low) * scale)] for v in values)
