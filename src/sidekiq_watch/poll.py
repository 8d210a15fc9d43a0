"""One poll: source → snapshot → rules → message → notifier. Knows nothing of Lambda."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from .alerts.messages import render_firing, render_source_down
from .alerts.rules import Finding, default_rules, evaluate
from .errors import DeliveryError, SourceError
from .settings import Settings
from .slack import Notifier, Payload, PrintNotifier, SlackWebhook, message_overrides
from .stats.snapshot import Snapshot
from .stats.sources import StatsSource


@dataclass
class PollReport:
    """What one poll saw and did; its dict is what the Lambda returns and the CLI prints."""

    source: str
    checked_at: datetime
    snapshot: Snapshot | None = None
    findings: list[Finding] = field(default_factory=list)
    source_error: SourceError | None = None
    message: Payload | None = None
    delivery: str = "nothing to send"

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "checked_at": self.checked_at.isoformat(),
            "shape": self.snapshot.shape if self.snapshot else None,
            "figures": self.snapshot.figures() if self.snapshot else {},
            "findings": [{"rule": f.rule.name, "status": f.status, "value": f.value} for f in self.findings],
            "source_error": (
                {"kind": self.source_error.kind, "message": str(self.source_error)}
                if self.source_error
                else None
            ),
            "delivery": self.delivery,
        }


def source_name(settings: Settings) -> str:
    """The name people see: SIDEKIQ_SOURCE_NAME, else the URL's host, else the file name."""
    if settings.source_name:
        return settings.source_name
    parts = urlsplit(settings.stats_url)
    return parts.hostname or settings.stats_url.rsplit("/", 1)[-1]


def poll_once(
    settings: Settings,
    source: StatsSource,
    notifier: Notifier,
    *,
    now: datetime | None = None,
) -> PollReport:
    """Read, evaluate, and post one message if anything fires or the source cannot be read.

    A permanent delivery failure (Slack rejected the request) is recorded in the report, not
    raised; a transient one is raised so the caller (Lambda) retries.
    """
    name = source_name(settings)
    report = PollReport(source=name, checked_at=now or datetime.now(UTC))
    try:
        report.snapshot = source.read()
    except SourceError as exc:
        report.source_error = exc
        report.message = render_source_down(name, str(exc), report.checked_at)
    else:
        report.findings = evaluate(report.snapshot, default_rules(settings.retry_threshold))
        firing = [f for f in report.findings if f.status == "firing"]
        if firing:
            report.message = render_firing(name, firing, report.snapshot, report.checked_at)
    if report.message is not None:
        try:
            notifier.post(report.message)
        except DeliveryError as exc:
            if not exc.permanent:
                raise
            report.delivery = f"rejected: {exc}"
        else:
            report.delivery = notifier.description
    return report


def build_notifier(settings: Settings, session: requests.Session | None = None) -> Notifier:
    """Slack when a webhook is configured, else the dry-run printer."""
    if settings.slack_webhook_url is None:
        return PrintNotifier()
    return SlackWebhook(
        settings.slack_webhook_url,
        timeout=settings.http_timeout_seconds,
        session=session,
        overrides=message_overrides(
            settings.slack_channel, settings.slack_username, settings.slack_icon_emoji
        ),
    )
