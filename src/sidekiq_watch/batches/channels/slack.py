"""Slack incoming webhook: Block Kit with counts and the first failures."""

from __future__ import annotations

from dataclasses import dataclass

from ...secrets import Secret
from ...slack import SlackWebhook, message_overrides
from ..payload import BatchEvent
from ..render import slack_payload
from .base import Options, Resources


@dataclass(frozen=True)
class SlackChannel:
    name: str
    webhook_url: Secret
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    kind: str = "slack"

    @classmethod
    def from_options(cls, name: str, options: Options) -> SlackChannel:
        return cls(
            name,
            options.required_secret("webhook_url", url=True),
            options.text("channel"),
            options.text("username"),
            options.text("icon_emoji"),
        )

    def deliver(self, event: BatchEvent, resources: Resources) -> str:
        SlackWebhook(
            self.webhook_url,
            timeout=resources.timeout,
            session=resources.session,
            policy=resources.policy,
            overrides=message_overrides(self.channel, self.username, self.icon_emoji),
            deadline=resources.deadline,
        ).post(slack_payload(event, resources.web_url))
        return "posted"


SLACK_OPTIONS = {"webhook_url", "channel", "username", "icon_emoji"}
