"""Threshold rules over snapshot figures, and the findings they produce."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from ..stats.snapshot import Snapshot

Comparator = Literal[">", ">=", "<", "<=", "=="]
COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}
Status = Literal["firing", "ok", "unknown"]


@dataclass(frozen=True)
class Rule:
    """``figure comparator threshold``, e.g. ``retries > 50``: firing while the comparison holds."""

    figure: str
    comparator: Comparator
    threshold: float

    @property
    def name(self) -> str:
        return f"{self.figure} {self.comparator} {self.threshold:g}"

    def holds(self, value: float) -> bool:
        return COMPARATORS[self.comparator](value, self.threshold)


@dataclass(frozen=True)
class Finding:
    """What one rule says of one snapshot; ``value`` is None when the figure is missing."""

    rule: Rule
    status: Status
    value: float | None


def evaluate(snapshot: Snapshot, rules: Iterable[Rule]) -> list[Finding]:
    """Each rule's finding; a figure the source lacks makes the rule unknown, never a silent pass."""
    findings = []
    for rule in rules:
        value = snapshot.figure(rule.figure)
        if value is None:
            findings.append(Finding(rule, "unknown", None))
        else:
            findings.append(Finding(rule, "firing" if rule.holds(value) else "ok", value))
    return findings


def default_rules(retry_threshold: int) -> list[Rule]:
    """The classic: alert when retries exceed the threshold (strictly greater)."""
    return [Rule("retries", ">", retry_threshold)]
