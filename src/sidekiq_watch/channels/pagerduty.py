"""PagerDuty Events API v2: each alert triggered under a stable ``dedup_key`` and resolved with it.

202 is accepted; 400 (an invalid event) is permanent; 429 and 5xx are retried within the deadline
(the shared HTTP policy). The routing key goes only to the Events API host the options name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..secrets import Secret
from .base import Options, Resources
from .message import Alert, Message, Severity

PAGERDUTY_OPTIONS = {"routing_key", "url"}
EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"  # EU: https://events.eu.pagerduty.com/v2/enqueue
MAX_SUMMARY_CHARS = 1024
SEVERITIES = {
    Severity.CRITICAL: "critical",
    Severity.WARNING: "warning",
    Severity.INFO: "info",
    Severity.OK: "info",
}


@dataclass(frozen=True)
class PagerDutyChannel:
    name: str
    routing_key: Secret
    url: str = EVENTS_URL
    kind: str = "pagerduty"

    @classmethod
    def from_options(cls, name: str, options: Options) -> PagerDutyChannel:
        return cls(name, options.required_secret("routing_key"), options.service_url("url", EVENTS_URL))

    def event(self, alert: Alert, message: Message) -> dict[str, Any]:
        event: dict[str, Any] = {
            "routing_key": self.routing_key.reveal(),
            "event_action": "resolve" if alert.resolved else "trigger",
            "dedup_key": alert.key,
        }
        if not alert.resolved:
            event["payload"] = {
                "summary": alert.summary[:MAX_SUMMARY_CHARS],
                "source": message.labels.get("target") or "sidekiq-watch",
                "severity": SEVERITIES[alert.severity],
                "component": "sidekiq",
                "custom_details": {k: v for k, v in message.labels.items()},
            }
            event["links"] = [{"href": link.url, "text": link.label} for link in alert.links]
            event["client"] = "sidekiq-watch"
        return event

    def deliver(self, message: Message, resources: Resources) -> str:
        alerts = message.as_alerts()
        host = urlsplit(self.url).hostname
        for alert in alerts:
            resources.post(self.url, location=f"PagerDuty ({host})", json=self.event(alert, message))
        return f"{len(alerts)} event(s) accepted"
