"""Opsgenie Alert API: each alert created with a stable ``alias`` and closed by that alias.

Creation and closing answer 202 (processed asynchronously); 4xx but 429 is permanent; 429 and 5xx
are retried within the deadline. The API key goes only to the API host the options name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ..secrets import Secret
from .base import Options, Resources
from .message import Message, Severity, as_plain_text

OPSGENIE_OPTIONS = {"api_key", "url"}
API_URL = "https://api.opsgenie.com"  # EU: https://api.eu.opsgenie.com
PRIORITIES = {Severity.CRITICAL: "P1", Severity.WARNING: "P3", Severity.INFO: "P5", Severity.OK: "P5"}
MAX_MESSAGE_CHARS, MAX_ALIAS_CHARS, MAX_DESCRIPTION_CHARS = 130, 512, 15000


@dataclass(frozen=True)
class OpsgenieChannel:
    name: str
    api_key: Secret
    url: str = API_URL
    kind: str = "opsgenie"

    @classmethod
    def from_options(cls, name: str, options: Options) -> OpsgenieChannel:
        url = options.service_url("url", API_URL, base_only=True)
        return cls(name, options.required_secret("api_key"), url)

    def deliver(self, message: Message, resources: Resources) -> str:
        alerts = message.as_alerts()
        headers = {"Authorization": f"GenieKey {self.api_key.reveal()}"}
        location = f"Opsgenie ({urlsplit(self.url).hostname})"
        for alert in alerts:
            alias = alert.key[:MAX_ALIAS_CHARS]
            if alert.resolved:
                url = f"{self.url}/v2/alerts/{quote(alias, safe='')}/close?identifierType=alias"
                body: dict[str, Any] = {"source": "sidekiq-watch", "note": alert.summary[:1000]}
            else:
                url = f"{self.url}/v2/alerts"
                body = {
                    "message": alert.summary[:MAX_MESSAGE_CHARS],
                    "alias": alias,
                    "description": as_plain_text(message)[:MAX_DESCRIPTION_CHARS],
                    "priority": PRIORITIES[alert.severity],
                    "source": "sidekiq-watch",
                    "tags": ["sidekiq"],
                    "details": dict(message.labels) | {link.label: link.url for link in alert.links},
                }
            resources.post(url, location=location, json=body, headers=headers)
        return f"{len(alerts)} request(s) accepted"
