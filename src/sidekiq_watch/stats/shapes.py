"""The JSON shapes Sidekiq stats are served in, detected from the body itself.

- ``handwritten``: ``{"enqueued": 40, "queues": {"default": 0}, "retries": 60}`` (the common
  Rails controller; extra figures such as ``dead`` are taken when present).
- ``sidekiq_web_stats``: Sidekiq Web's ``GET /sidekiq/stats`` (``{"sidekiq": {...}, "redis": ...}``).
- ``sidekiq_web_queues``: Sidekiq Web's ``GET /sidekiq/stats/queues`` (``{"default": 0, ...}``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import SourceError
from .snapshot import FIGURES, MAX_COUNT, MAX_PLAUSIBLE_SECONDS, Snapshot

COUNT_FIGURES = tuple(f for f in FIGURES if f != "default_latency")

# Names the hand-written endpoints use for the same figures (Sidekiq::Stats method names).
ALIASES = {
    "retry_size": "retries",
    "dead_size": "dead",
    "scheduled_size": "scheduled",
    "workers_size": "busy",
    "processes_size": "processes",
}
HANDWRITTEN_MARKERS = frozenset({"enqueued", "retries", "retry_size", "queues"})


def _describe(body: object) -> str:
    if isinstance(body, Mapping):
        keys = list(body)
        listed = ", ".join(repr(str(k))[:40] for k in keys[:10])
        more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
        return f"a JSON object with keys {listed}{more}" if keys else "an empty JSON object"
    return f"a JSON {type(body).__name__.replace('dict', 'object').replace('list', 'array')}"


def _count(value: object, name: str, location: str) -> int:
    """A non-negative whole number; digit strings are accepted since some encoders quote big integers."""
    number: Any = value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int):
        raise SourceError("bad_value", location, f"{name} is {_shown(value)}, not a whole number")
    if number < 0:
        raise SourceError("bad_value", location, f"{name} is {_shown(number)}: a count cannot be negative")
    if number > MAX_COUNT:
        raise SourceError(
            "bad_value", location, f"{name} is {_shown(number)}: beyond any count Redis can hold"
        )
    return number


def _shown(value: object) -> str:
    """A peer's value, short: a number of thousands of digits is never formatted whole."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_COUNT:
        return "a number beyond 2^63"
    return f"{value!r:.60}"


def _looks_like_count(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lstrip("-").isdigit()
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(value: object, name: str, location: str) -> float:
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = value
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise SourceError("bad_value", location, f"{name} is {_shown(value)}, not a number of seconds")
    if number < 0:
        raise SourceError("bad_value", location, f"{name} is {_shown(number)}: a latency cannot be negative")
    if number > MAX_PLAUSIBLE_SECONDS:
        raise SourceError("bad_value", location, f"{name} is {_shown(number)}: beyond any plausible latency")
    return float(number)


def _queues(value: object, name: str, location: str) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise SourceError(
            "bad_value", location, f"{name} is {_describe(value)}, not an object of queue sizes"
        )
    return {_text(queue): _count(size, f"{name}.{_text(queue)}", location) for queue, size in value.items()}


def _text(name: object) -> str:
    """A peer's name as text every encoder takes: a lone surrogate (from a JSON \\ud800 escape)
    becomes U+FFFD, or the poll's log record would be dropped."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in str(name))


def _figures(source: Mapping[str, object], location: str, prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in source.items():
        name = ALIASES.get(key, key)
        if value is None:
            continue
        if name in COUNT_FIGURES:
            found[name] = _count(value, prefix + key, location)
        elif name == "default_latency":
            found[name] = _seconds(value, prefix + key, location)
    return found


def parse_stats(body: object, location: str = "stats") -> Snapshot:
    """A Snapshot from a decoded JSON body; SourceError names what was found when the shape is unknown."""
    if isinstance(body, Mapping):
        inner = body.get("sidekiq")
        if isinstance(inner, Mapping):
            server_time = body.get("server_utc_time")
            return Snapshot(
                shape="sidekiq_web_stats",
                server_time=server_time if isinstance(server_time, str) else None,
                **_figures(inner, location, "sidekiq."),
            )
        if HANDWRITTEN_MARKERS & body.keys():
            figures = _figures(body, location)
            queues = _queues(body["queues"], "queues", location) if body.get("queues") is not None else None
            if "enqueued" not in figures and queues is not None:
                figures["enqueued"] = sum(queues.values())
            return Snapshot(shape="handwritten", queues=queues, **figures)
        if all(_looks_like_count(v) for v in body.values()):
            queues = _queues(body, "queue", location)
            return Snapshot(shape="sidekiq_web_queues", queues=queues, enqueued=sum(queues.values()))
    raise SourceError(
        "unknown_shape",
        location,
        f"the JSON is {_describe(body)}, which is none of the Sidekiq stats shapes "
        "(expected Sidekiq Web's /stats or /stats/queues, or {enqueued, queues, retries})",
    )
