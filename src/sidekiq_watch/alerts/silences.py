"""Silences: "I know, I'm on it" for a while, and recurring mute windows for maintenance.

A silence matches alerts by globs on target, rule and severity. While one matches a firing alert,
its firing and reminders are not announced (the state is still kept). Unlike Alertmanager, the
resolve is always told when the firing had been, and a silence that ends while its alert still
fires announces it once. Pure: times are passed in, storage is the alert store's.
"""

from __future__ import annotations

import fnmatch
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from datetime import time as clock_time
from typing import Any

from ..errors import ConfigError
from ..settings import parse_duration
from .lifecycle import Decision

LABELS = ("target", "rule", "severity")
MAX_SILENCE_SECONDS = 7 * 86400  # longer is not "for a deploy": change the rule instead
KEPT_AFTER_END_SECONDS = 7 * 86400  # `silence list` shows what ended this recently
MAX_TEXT = 200
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_matchers(raw: Iterable[str], where: str = "--match") -> tuple[tuple[str, str], ...]:
    """``target=shop``, ``rule=retries*``, ``severity=warning``: at least one."""
    found = []
    for item in raw:
        name, sep, glob = item.partition("=")
        if not sep or name not in LABELS or not glob:
            raise ConfigError(
                f"{where}: expected LABEL=GLOB with LABEL one of {', '.join(LABELS)}, got {item!r}"
            )
        found.append((name, glob))
    if not found:
        raise ConfigError(f"{where}: give at least one matcher, e.g. target=shop")
    return tuple(found)


def _matches(matchers: tuple[tuple[str, str], ...], labels: Mapping[str, str]) -> bool:
    return all(fnmatch.fnmatchcase(labels.get(name, ""), glob) for name, glob in matchers)


def _text(value: str, where: str) -> str:
    if len(value) > MAX_TEXT or not value.isprintable():
        raise ConfigError(f"{where}: one line of at most {MAX_TEXT} characters")
    return value


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[tuple[str, str], ...]
    starts_at: float
    ends_at: float
    author: str
    comment: str = ""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return _matches(self.matchers, labels)

    @property
    def words(self) -> str:
        """Who silenced it and why, for messages."""
        return f"the silence by {self.author}" + (f" ({self.comment})" if self.comment else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [f"{name}={glob}" for name, glob in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "author": self.author,
            "comment": self.comment,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            str(data["id"]),
            parse_matchers(data["matchers"], "silence"),
            float(data["starts_at"]),
            float(data["ends_at"]),
            str(data.get("author", "")),
            str(data.get("comment", "")),
        )


def new_silence(
    matchers: tuple[tuple[str, str], ...], duration: object, author: str, comment: str, now: float
) -> Silence:
    seconds = parse_duration(duration, "--for")
    if seconds > MAX_SILENCE_SECONDS:
        raise ConfigError(f"--for: at most 7d ({MAX_SILENCE_SECONDS // 3600} h), got {duration!r}")
    return Silence(
        secrets.token_hex(4),
        matchers,
        now,
        now + seconds,
        _text(author or "someone", "--author"),
        _text(comment, "--comment"),
    )


@dataclass(frozen=True)
class Window:
    """A recurring mute window: on these days, from..to local time in a time zone."""

    name: str
    matchers: tuple[tuple[str, str], ...]
    days: frozenset[int]  # 0 = Monday
    start: clock_time
    end: clock_time
    zone: Any  # zoneinfo.ZoneInfo

    @property
    def id(self) -> str:
        return f"window:{self.name}"

    @property
    def words(self) -> str:
        return f"the mute window {self.name}"

    def active(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, self.zone)
        at, day = local.time(), local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= at < self.end
        # Overnight (22:00-02:00): the evening of a listed day, or the morning after it.
        return (day in self.days and at >= self.start) or ((day - 1) % 7 in self.days and at < self.end)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return _matches(self.matchers, labels)


def parse_windows(raw: object, where: str = "silence_windows") -> tuple[Window, ...]:
    """``[{name, match: {...}, days: [sun], from: "02:00", to: "04:00", timezone: Europe/Berlin}]``."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of windows")
    windows = []
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{at}: expected a mapping with name, match, days, from, to, timezone")
        unknown = set(item) - {"name", "match", "days", "from", "to", "timezone"}
        if unknown:
            raise ConfigError(f"{at}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        name = item.get("name")
        if not isinstance(name, str) or not name or not name.isprintable() or len(name) > 64:
            raise ConfigError(f"{at}.name: expected a short name such as sunday-maintenance")
        match = item.get("match") or {}
        if not isinstance(match, Mapping) or not match:
            raise ConfigError(f"{at}.match: give at least one of {', '.join(LABELS)}")
        matchers = parse_matchers([f"{k}={v}" for k, v in match.items()], f"{at}.match")
        days = item.get("days")
        if not isinstance(days, list) or not days or not all(str(d).lower()[:3] in DAYS for d in days):
            raise ConfigError(f"{at}.days: expected a list of days such as [sat, sun]")
        bounds = []
        for key in ("from", "to"):
            value = item.get(key)
            found = _HHMM.match(value) if isinstance(value, str) else None
            if found is None:
                raise ConfigError(f"{at}.{key}: expected HH:MM such as 02:00, got {value!r}")
            bounds.append(clock_time(int(found[1]), int(found[2])))
        if bounds[0] == bounds[1]:
            raise ConfigError(f"{at}: from and to are the same time")
        zone_name = item.get("timezone", "UTC")
        try:
            zone = ZoneInfo(str(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{at}.timezone: unknown time zone {str(zone_name)[:64]!r}") from None
        day_numbers = frozenset(DAYS.index(str(d).lower()[:3]) for d in days)
        windows.append(Window(name, matchers, day_numbers, bounds[0], bounds[1], zone))
    return tuple(windows)


Quieter = Silence | Window


def quieting(quieters: Iterable[Quieter], labels: Mapping[str, str], now: float) -> Quieter | None:
    """The first active silence or window that matches these labels, or None."""
    for quieter in quieters:
        if quieter.active(now) and quieter.matches(labels):
            return quieter
    return None


def apply_silences(
    decision: Decision, active: Quieter | None, known: Mapping[str, Quieter], now: float
) -> Decision:
    """The decision once silences are taken into account. ``active``: the silence or window that
    matches the alert now; ``known``: every one by id, to name one that ended."""
    previous, record = decision.previous, decision.record
    notice = decision.notice
    if active is not None:
        if notice in ("firing", "severity", "reminder", "unknown"):
            # Not announced; the state is kept (what fires, since when, at which severity).
            quiet = replace(
                record,
                silenced_by=active.id,
                announced=notice != "firing" and notice != "unknown" and previous.announced,
                last_notified=None if notice in ("firing", "unknown") else previous.last_notified,
            )
            return replace(decision, notice=None, record=quiet, silence=active.words)
        if notice == "resolved":
            if not previous.announced:  # nobody was told it fired: nothing to tell
                return replace(
                    decision, notice=None, record=replace(record, silenced_by=None, announced=True)
                )
            told = replace(record, silenced_by=None, announced=True)
            return replace(decision, record=told, silence=f"while silenced: {active.words}")
        if record.status in ("firing", "unknown") and record.silenced_by != active.id:
            return replace(decision, record=replace(record, silenced_by=active.id), silence=active.words)
        return decision
    if previous.silenced_by is None:
        return decision
    ended = known.get(previous.silenced_by)
    after = f"after {ended.words if ended is not None else 'a silence'} ended"
    if notice == "resolved" and not previous.announced:
        return replace(decision, notice=None, record=replace(record, silenced_by=None, announced=True))
    if record.status == "firing" and notice != "resolved":
        # The silence ended while the alert still fires: announced once, saying so.
        told = replace(record, silenced_by=None, announced=True, last_notified=now)
        return replace(decision, notice="unsilenced", record=told, silence=after)
    return replace(decision, record=replace(record, silenced_by=None, announced=True))
