"""Generic webhook: POSTs the message's document (a batch as received) or its rendering, optional
Basic Auth and headers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..http import redact_url
from ..secrets import Secret
from .base import Options, Resources
from .message import Message, as_plain_text

WEBHOOK_OPTIONS = {"url", "username", "password", "headers", "body"}


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    url: Secret
    username: str | None = None
    password: Secret | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "payload"
    kind: str = "webhook"

    @classmethod
    def from_options(cls, name: str, options: Options) -> WebhookChannel:
        username, password = options.text("username"), options.secret("password")
        if (username is None) != (password is None):
            raise options_error(options, "set both username and password for Basic Auth, or neither")
        return cls(
            name,
            options.required_secret("url", url=True),
            username,
            password,
            options.mapping("headers"),
            options.choice("body", ("payload", "rendered"), "payload"),
        )

    def deliver(self, message: Message, resources: Resources) -> str:
        url = self.url.reveal()
        if self.body == "payload":
            document = dict(message.document)
        else:
            document = {**message.labels, "title": message.title, "text": as_plain_text(message)}
        auth = (self.username, self.password.reveal()) if self.username and self.password else None
        reply = resources.post(
            url,
            location=f"webhook {self.name} ({urlsplit(redact_url(url)).hostname})",
            data=json.dumps(document).encode("utf-8"),
            headers={"Content-Type": "application/json", **self.headers},
            auth=auth,
        )
        return f"HTTP {reply.status}"


def options_error(options: Options, message: str) -> Exception:
    from ..errors import ConfigError

    return ConfigError(f"{options.where}: {message}")
