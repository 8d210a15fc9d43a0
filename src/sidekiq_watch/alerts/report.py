"""What a poll saw and did, per target and in all: its outcomes as values, made words where shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..errors import ConfigError, DeliveryError, SidekiqWatchError, SourceError
from ..stats.snapshot import Snapshot
from ..verdict import Verdict
from .lifecycle import Hold
from .messages import format_duration
from .rules import Finding


class TargetOutcome(StrEnum):
    """How one target's poll ended: decided from the report's fields in one place (outcome)."""

    DELIVERED = "delivered"
    NOTHING_TO_SEND = "nothing to send"
    REJECTED = "rejected"
    WILL_RETRY = "will retry"
    SOURCE_UNREADABLE = "source unreadable"
    NOT_FINISHED = "not finished in time"
    FAILED = "failed"


@dataclass(frozen=True)
class Announcement:
    """What announcing one target's decisions did: posted, left to another invocation, or not delivered."""

    notices: tuple[tuple[str, str], ...] = ()  # (notice, rule) announced by this poll
    others_announcing: tuple[str, ...] = ()
    already_announced: tuple[str, ...] = ()
    # Announced, but the confirming write lost to another invocation: it may announce them again.
    confirm_lost: tuple[str, ...] = ()
    sent_by: str | None = None  # the notifier that took the message (posted to Slack, printed)
    left: int = 0  # notices not claimed because the time ran out: the next poll decides them
    rejected: DeliveryError | None = None
    transient: DeliveryError | None = None


@dataclass(frozen=True)
class TargetReport:
    """What one target's poll saw and did; its outcome is derived, never stored."""

    target: str
    checked_at: float
    snapshot: Snapshot | None = None
    findings: tuple[Finding, ...] = ()
    holds: tuple[Hold, ...] = ()  # rules waiting out their `for` or `keep_firing_for`
    silenced: tuple[tuple[str, str], ...] = ()  # (rule, silence or window id) kept quiet this poll
    source_error: SourceError | None = None
    announced: Announcement = Announcement()
    failure: SidekiqWatchError | None = None
    late: bool = False

    @property
    def outcome(self) -> TargetOutcome:
        if self.late:
            return TargetOutcome.NOT_FINISHED
        if self.failure is not None:
            return TargetOutcome.FAILED
        if self.announced.rejected is not None:
            return TargetOutcome.REJECTED
        if self.announced.transient is not None:
            return TargetOutcome.WILL_RETRY
        if self.announced.notices:
            return TargetOutcome.DELIVERED
        if self.source_error is not None:
            return TargetOutcome.SOURCE_UNREADABLE
        return TargetOutcome.NOTHING_TO_SEND

    @property
    def delivery(self) -> str:
        """The outcome in words, for the CLI and the log record."""
        outcome = self.outcome
        left = (
            f"; {self.announced.left} notices left to the next poll (out of time)"
            if self.announced.left
            else ""
        )
        if outcome is TargetOutcome.DELIVERED:
            return (self.announced.sent_by or outcome.value) + left
        if outcome is TargetOutcome.REJECTED:
            return f"rejected: {self.announced.rejected}"
        if outcome is TargetOutcome.WILL_RETRY:
            return f"failed, will retry: {self.announced.transient}"
        if outcome is TargetOutcome.FAILED:
            return f"failed: {self.failure}"
        if outcome is TargetOutcome.NOT_FINISHED:
            return f"not finished within the invocation's time{left}; polled again next time"
        return "nothing to send"

    @property
    def pending(self) -> set[str]:
        """Rules breaching but not yet for their `for`: not firing, so not alerting."""
        return {hold.key for hold in self.holds if hold.state == "pending"}

    def _finding(self, finding: Finding) -> dict[str, Any]:
        shown = {"rule": finding.key, "status": finding.status, "value": finding.value}
        shown["severity"] = finding.severity
        for hold in self.holds:
            if hold.key == finding.key:
                shown["status"] = hold.state
                shown["held"] = f"{format_duration(hold.held)} of {format_duration(hold.needed)}"
        return shown

    def as_dict(self) -> dict[str, Any]:
        announced = self.announced
        return {
            "target": self.target,
            "checked_at": datetime.fromtimestamp(self.checked_at, UTC).isoformat(),
            "shape": self.snapshot.shape if self.snapshot else None,
            "figures": self.snapshot.figures() if self.snapshot else {},
            "findings": [self._finding(f) for f in self.findings],
            "silenced": [{"rule": key, "by": by} for key, by in self.silenced],
            "source_error": (
                {"kind": self.source_error.kind, "message": str(self.source_error)}
                if self.source_error
                else None
            ),
            "notices": [{"notice": notice, "rule": key} for notice, key in announced.notices],
            "others_announcing": list(announced.others_announcing),
            "confirm_lost": list(announced.confirm_lost),
            "already_announced": list(announced.already_announced),
            "left_to_next_poll": announced.left,
            "outcome": self.outcome.value,
            "delivery": self.delivery,
            "error": str(self.failure) if self.failure else None,
        }


class Heartbeat(StrEnum):
    """What became of the dead man's switch after a poll."""

    SENT = "sent"
    FAILED = "failed (logged; the poll is not failed for it)"
    HELD_BACK = "not sent: the poll did not finish or could not deliver"


@dataclass
class PollReport:
    targets: list[TargetReport]
    state: str
    heartbeat: Heartbeat | None = None  # None: no heartbeat_url

    def as_dict(self) -> dict[str, Any]:
        beat = {"heartbeat": self.heartbeat.value} if self.heartbeat else {}
        return {"state": self.state, "targets": [t.as_dict() for t in self.targets], **beat}

    @property
    def transient_failures(self) -> list[DeliveryError]:
        return [t.announced.transient for t in self.targets if t.announced.transient is not None]

    def verdict(self) -> Verdict:
        """The one judgement of a poll: the CLI's exit status maps it; the handler fails on it."""
        failures = [t.failure for t in self.targets if t.failure is not None]
        if any(t.outcome in (TargetOutcome.REJECTED, TargetOutcome.WILL_RETRY) for t in self.targets):
            return Verdict.DELIVERY
        if any(isinstance(f, ConfigError) for f in failures):
            return Verdict.CONFIG
        if any(isinstance(f, DeliveryError) for f in failures):
            return Verdict.DELIVERY
        if failures:
            return Verdict.FAILED  # never called a delivery failure: nothing was even sent
        if any(t.source_error for t in self.targets) or any(
            f.status == "firing" and f.key not in t.pending for t in self.targets for f in t.findings
        ):
            return Verdict.ALERTING
        return Verdict.OK

    def invocation_error(self) -> SidekiqWatchError | None:
        """What fails the Lambda invocation, or None. A transient delivery failure first: Lambda's
        retry is the next attempt. A message Slack rejected does not fail it: retrying cannot help,
        and the next poll tries again. Alerts never fail it."""
        if self.transient_failures:
            return self.transient_failures[0]
        failures = [t.failure for t in self.targets if t.failure is not None]
        if failures:
            return SidekiqWatchError("; ".join(str(f) for f in failures))
        return None
