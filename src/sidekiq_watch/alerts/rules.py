"""Threshold rules over snapshot figures, and the findings they produce.

A rule reads one figure (``retries``), a per-queue figure (``queue:NAME``, ``latency:NAME``,
either may be a glob such as ``queue:mailers*``) or a rate between two polls
(``failed_per_minute``), compares it, and fires at a warning and/or critical level.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..settings import parse_duration
from ..stats.snapshot import FIGURES

Comparator = Literal[">", ">=", "<", "<=", "=="]
COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}
Status = Literal["firing", "ok", "unknown"]
Severity = Literal["warning", "critical"]
# Figures that compare two polls (alerts/history.py): unknown until there is a previous poll.
RATE_FIGURES = ("failed_per_minute", "processed_per_minute", "stalled", "redis_evicted_keys", "dead_added")
# A bundled rule on a figure counted since the previous poll is left out where the source does not
# give the figure read with it every poll (only Redis sources count deaths and evictions).
COUNTED_WITH = {"redis_evicted_keys": "redis_evicted_keys_total", "dead_added": "live_processes"}
# A source that cannot tell says nothing of these (no "cannot evaluate"): a bundled rule watches for a
# stalled Sidekiq wherever the source can see it, and stays silent on a hand-written endpoint.
SILENT_WHEN_ABSENT = ("stalled",)
# A bundled rule on the first figure is left out where the source gives the second: live_processes
# (heartbeats) replaces processes (a count that keeps a process killed with -9 for a minute, or,
# from Sidekiq Web, until something prunes the set).
SUPERSEDED_WHEN_PRESENT = {"processes": "live_processes"}
PER_QUEUE_PREFIXES = ("queue:", "latency:")
_GLOB_CHARS = re.compile(r"[*?\[]")
_SHORTHAND = re.compile(
    r"^\s*(?P<figure>\S+)\s*(?P<cmp>>=|<=|==|>|<)\s*(?P<threshold>-?\d+(?:\.\d+)?)"
    r"(?:\s+for\s+(?P<hold>\S+))?\s*$"
)
# A hold longer than a day is a typo, not a choice: the alert would wait a day to say anything.
MAX_HOLD_SECONDS = 86400.0
MAX_DESCRIPTION_CHARS = 300
RULE_FIELDS = {
    "figure",
    "comparator",
    "threshold",
    "warning",
    "critical",
    "for",
    "keep_firing_for",
    "runbook",
    "description",
}


@dataclass(frozen=True)
class Rule:
    """``figure comparator level``: firing at ``critical`` (or at ``warning``) while the comparison holds."""

    figure: str
    comparator: Comparator = ">"
    critical: float | None = None
    warning: float | None = None
    # One of the bundled defaults, not written by the user: where the source cannot provide its
    # figure it is left out for that source, never announced as "cannot evaluate". Not in the key.
    bundled: bool = field(default=False, compare=False)
    # Prometheus' `for` and `keep_firing_for`: how long a breach (a clearance) must hold before its
    # firing (its resolve) is announced. Not in the key: changing them keeps the alert's state.
    hold_for: float = 0.0
    keep_firing_for: float = 0.0
    runbook: str | None = None  # what to do, as a page: a button in Slack, a link in PagerDuty
    description: str | None = None  # what the alert means, in the team's words

    @property
    def key(self) -> str:
        """Stable identity of the rule, used as its name in messages and in the alert state."""
        levels = "/".join(f"{level:g}" for level in (self.warning, self.critical) if level is not None)
        return f"{self.figure} {self.comparator} {levels}"

    @property
    def is_glob(self) -> bool:
        return bool(_GLOB_CHARS.search(self.figure))

    def severity(self, value: float) -> Severity | None:
        compare = COMPARATORS[self.comparator]
        if self.critical is not None and compare(value, self.critical):
            return "critical"
        if self.warning is not None and compare(value, self.warning):
            return "warning"
        return None

    def threshold_for(self, severity: Severity | None) -> float | None:
        if severity == "warning":
            return self.warning
        return self.critical if self.critical is not None else self.warning


@dataclass(frozen=True)
class Finding:
    """What one rule says of one figure; ``subject`` is the concrete figure a glob matched."""

    rule: Rule
    subject: str
    status: Status
    value: float | None
    severity: Severity | None = None

    @property
    def key(self) -> str:
        return self.rule.key if self.subject == self.rule.figure else f"{self.rule.key} [{self.subject}]"


def evaluate(
    figures: Mapping[str, float], rules: Iterable[Rule], *, first_poll: bool = False
) -> list[Finding]:
    """Each rule's findings; a figure the source lacks makes the rule unknown, never a silent pass.

    On a target's first poll, rules on figures that compare two polls are not evaluated at all:
    they are not unknown, only not yet known (no "cannot evaluate" on every first poll).
    """
    findings: list[Finding] = []
    for rule in rules:
        if (first_poll and rule.figure in RATE_FIGURES) or (
            rule.figure in SILENT_WHEN_ABSENT and rule.figure not in figures
        ):
            continue
        if rule.bundled and not rule.is_glob and left_out(rule, figures):
            continue
        if rule.is_glob:
            prefix = rule.figure.split(":", 1)[0] + ":"
            subjects = [
                name for name in figures if name.startswith(prefix) and fnmatch.fnmatchcase(name, rule.figure)
            ]
            known = any(name.startswith(prefix) for name in figures)
            if not known:
                findings.append(Finding(rule, rule.figure, "unknown", None))
        else:
            subjects = [rule.figure]
        for subject in sorted(subjects):
            value = figures.get(subject)
            if value is None:
                findings.append(Finding(rule, subject, "unknown", None))
                continue
            severity = rule.severity(value)
            findings.append(Finding(rule, subject, "firing" if severity else "ok", value, severity))
    return findings


def left_out(rule: Rule, figures: Mapping[str, float]) -> bool:
    """Whether a bundled rule is left out for a source: its figure absent, or superseded."""
    if rule.figure in RATE_FIGURES:
        # Absent on a first poll: told apart by ``first_poll``; or never, from a source that cannot count it.
        companion = COUNTED_WITH.get(rule.figure)
        return companion is not None and companion not in figures
    replacement = SUPERSEDED_WHEN_PRESENT.get(rule.figure)
    return rule.figure not in figures or (replacement is not None and replacement in figures)


def _figure_problem(figure: str) -> str | None:
    if figure in FIGURES or figure in RATE_FIGURES:
        return None
    if figure.startswith(PER_QUEUE_PREFIXES) and figure.split(":", 1)[1]:
        return None
    valid = ", ".join((*FIGURES, *RATE_FIGURES, "queue:NAME", "latency:NAME"))
    return f"unknown figure {figure!r} (valid: {valid})"


def _level(value: object, field: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {field} must be a number, got {value!r}")
    return float(value)


def parse_rule(spec: object, where: str) -> Rule:
    """A rule from ``"retries > 50"`` or ``{figure, comparator, threshold | warning/critical}``.

    ``where`` (e.g. ``targets[0].rules[2]``) starts every error message.
    """
    if isinstance(spec, str):
        match = _SHORTHAND.match(spec)
        if not match:
            raise ConfigError(f"{where} ({spec!r}): expected 'FIGURE OP NUMBER', e.g. 'retries > 50'")
        data: dict[str, Any] = {
            "figure": match["figure"],
            "comparator": match["cmp"],
            "threshold": float(match["threshold"]),
        }
        if match["hold"]:
            data["for"] = match["hold"]
        said = f"{where} ({spec!r})"
    elif isinstance(spec, Mapping):
        data = dict(spec)
        said = where
    else:
        raise ConfigError(f"{where}: a rule is a string like 'retries > 50' or a mapping, got {spec!r}")
    unknown = set(data) - RULE_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    figure = data.get("figure")
    if not isinstance(figure, str) or not figure:
        raise ConfigError(f"{where}: figure is required")
    problem = _figure_problem(figure)
    if problem:
        raise ConfigError(f"{where}: figure: {problem}")
    comparator = data.get("comparator", ">")
    if comparator not in COMPARATORS:
        raise ConfigError(f"{where}: comparator {comparator!r} is not one of {', '.join(COMPARATORS)}")
    threshold = _level(data.get("threshold"), "threshold", where)
    critical = _level(data.get("critical"), "critical", where)
    warning = _level(data.get("warning"), "warning", where)
    if threshold is not None and critical is not None:
        raise ConfigError(f"{where}: give threshold or critical, not both (they mean the same)")
    critical = critical if critical is not None else threshold
    if critical is None and warning is None:
        raise ConfigError(f"{where}: a threshold (or warning/critical level) is required")
    if critical is not None and warning is not None and COMPARATORS[comparator](warning, critical):
        raise ConfigError(
            f"{where}: warning {warning:g} must be reached before critical {critical:g} "
            f"for comparator {comparator}"
        )
    return Rule(
        figure,
        comparator,
        critical=critical,
        warning=warning,
        hold_for=_hold(data.get("for"), "for", said),
        keep_firing_for=_hold(data.get("keep_firing_for"), "keep_firing_for", where),
        runbook=_runbook(data.get("runbook"), where),
        description=_description(data.get("description"), where),
    )


def _hold(value: object, name: str, where: str) -> float:
    if value is None:
        return 0.0
    seconds = parse_duration(value, f"{where}: {name}")
    if seconds > MAX_HOLD_SECONDS:
        raise ConfigError(f"{where}: {name}: at most 1d ({MAX_HOLD_SECONDS:g} s), got {value!r}")
    return seconds


def _runbook(value: object, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isprintable() and " " not in value:
        parts = urlsplit(value)
        if parts.scheme in ("https", "http") and parts.hostname:
            return value
    raise ConfigError(f"{where}: runbook: expected an http(s):// URL, got {str(value)[:80]!r}")


def _description(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: description: expected text")
    if len(value) > MAX_DESCRIPTION_CHARS or not value.isprintable():
        raise ConfigError(f"{where}: description: one line of at most {MAX_DESCRIPTION_CHARS} characters")
    return value
