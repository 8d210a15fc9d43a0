"""The alert lifecycle, as pure decisions: firing, reminder, severity change, resolved, unknown.

Like Alertmanager's firing/resolved/repeat_interval: a rule that starts firing is announced
once, reminded after ``repeat_interval``, announced again at once when its severity changes,
and resolved with how long it fired. ``status`` in a record is what was last *announced*, so a
notification that never got out is decided again on the next poll, never lost.

Hold-down as Prometheus has it: a rule with ``for`` is *pending* from its first breach
(``pending_since``, kept in the record) and fires only once the breach has held that long; one with
``keep_firing_for`` is *clearing* from its first clear poll (``clearing_since``) and resolves only
once clear that long. A poll that cannot read the source decides nothing, so it resets neither.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from .rules import Finding, Rule, Severity, Status

Notice = Literal["firing", "reminder", "severity", "resolved", "unknown", "unsilenced"]
SOURCE_KEY = "source readable"
SOURCE_RULE = Rule("source", "==", critical=0)


@dataclass(frozen=True)
class AlertRecord:
    """The stored state of one (target, rule) pair; ``version`` guards every write."""

    target: str
    key: str
    status: Status = "ok"
    severity: Severity | None = None
    since: float | None = None
    last_notified: float | None = None
    value: float | None = None
    failures: int = 0
    failing_since: float | None = None  # the first failed poll of the current run of failures
    reason: str | None = None
    pending_since: float | None = None  # breaching, not yet held for the rule's `for`
    clearing_since: float | None = None  # firing but clear, not yet for `keep_firing_for`
    silenced_by: str | None = None  # the silence or mute window keeping this firing alert quiet
    announced: bool = True  # whether this receiver was told of the current firing (a silence may hide it)
    claim_id: str | None = None
    claim_until: float = 0.0
    version: int = 0

    def claimed_at(self, now: float) -> bool:
        """Another invocation is announcing this record's transition right now."""
        return self.claim_id is not None and self.claim_until > now


@dataclass(frozen=True)
class Decision:
    """What to do for one finding: ``notice`` to announce (or None) and the record to keep after."""

    finding: Finding
    notice: Notice | None
    previous: AlertRecord
    record: AlertRecord
    receiver: str = "slack"  # who is to hear it: each receiver has its own record
    silence: str | None = None  # words on a silence: "the silence by alice ended", "while silenced by"

    @property
    def changes_state(self) -> bool:
        return self.record != self.previous


def _quiet(finding: Finding, previous: AlertRecord, record: AlertRecord) -> Decision:
    """Nothing to announce; ``record`` differs from ``previous`` only by a hold's start or end."""
    if record == previous:
        return Decision(finding, None, previous, previous)
    return Decision(finding, None, previous, replace(record, claim_id=None, claim_until=0.0))


def decide(previous: AlertRecord, finding: Finding, now: float, repeat_interval: float) -> Decision:
    """The transition for one finding, from the last announced state."""
    rule = finding.rule
    base = replace(previous, value=finding.value, claim_id=None, claim_until=0.0)
    if finding.status == "firing":
        if previous.status != "firing":
            pending_since = previous.pending_since if previous.pending_since is not None else now
            if now - pending_since < rule.hold_for:
                return _quiet(finding, previous, replace(previous, pending_since=pending_since))
            record = replace(
                base,
                status="firing",
                severity=finding.severity,
                since=pending_since,
                last_notified=now,
                pending_since=None,
                clearing_since=None,
            )
            return Decision(finding, "firing", previous, record)
        base = replace(base, clearing_since=None)  # clear for a while, then breaching again: a flap
        if previous.severity != finding.severity:
            record = replace(base, severity=finding.severity, last_notified=now)
            return Decision(finding, "severity", previous, record)
        if previous.last_notified is None or now - previous.last_notified >= repeat_interval:
            return Decision(finding, "reminder", previous, replace(base, last_notified=now))
        return _quiet(finding, previous, replace(previous, clearing_since=None))
    if finding.status == "unknown":
        if previous.status == "unknown":
            return Decision(finding, None, previous, previous)
        record = replace(base, status="unknown", severity=None, since=None, last_notified=now)
        return Decision(finding, "unknown", previous, record)
    if previous.status == "firing":
        clearing_since = previous.clearing_since if previous.clearing_since is not None else now
        if now - clearing_since < rule.keep_firing_for:
            return _quiet(finding, previous, replace(previous, clearing_since=clearing_since))
        record = replace(base, status="ok", severity=None, last_notified=now, clearing_since=None)
        return Decision(finding, "resolved", previous, record)
    if previous.status == "unknown":
        # The figure is back and fine: record it quietly, nobody needs telling.
        return Decision(finding, None, previous, replace(base, status="ok", since=None, pending_since=None))
    return _quiet(finding, previous, replace(previous, pending_since=None))  # cleared while pending


def decide_source(
    previous: AlertRecord,
    reason: str | None,
    now: float,
    failures_before_alert: int,
    repeat_interval: float,
) -> Decision:
    """The "cannot read Sidekiq stats" alert: fires after N failed polls in a row, resolves on success."""
    failures = previous.failures + 1 if reason else 0
    down = failures >= failures_before_alert
    finding = Finding(
        SOURCE_RULE, "source", "firing" if down else "ok", float(failures), "critical" if down else None
    )
    decision = decide(previous, finding, now, repeat_interval)
    failing_since = (previous.failing_since or now) if reason else None
    record = replace(
        decision.record,
        failures=failures,
        failing_since=failing_since,
        reason=reason if reason else decision.record.reason,
    )
    if decision.notice is None and record.failures == previous.failures and record.reason == previous.reason:
        record = previous
    return replace(decision, record=record)


@dataclass(frozen=True)
class Hold:
    """A rule waiting out its hold-down: ``state`` pending (a breach) or clearing (a clearance)."""

    key: str
    state: Literal["pending", "clearing"]
    held: float
    needed: float


def hold_of(decision: Decision, now: float) -> Hold | None:
    """Whether the decision leaves its rule waiting, and for how long it has."""
    record, rule = decision.record, decision.finding.rule
    if record.status != "firing" and record.pending_since is not None:
        return Hold(decision.finding.key, "pending", now - record.pending_since, rule.hold_for)
    if record.status == "firing" and record.clearing_since is not None:
        return Hold(decision.finding.key, "clearing", now - record.clearing_since, rule.keep_firing_for)
    return None
