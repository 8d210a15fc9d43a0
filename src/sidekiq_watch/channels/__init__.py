"""The one channel layer: alerts and batch events are both a neutral ``Message``; each kind (one
module each) turns it into its own format. This registry turns a kind name and its options into a
channel: a new kind is one module and one line here, for alerts and batches alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from .aws import EMAIL_OPTIONS, SNS_OPTIONS, EmailChannel, SnsChannel
from .base import Channel, Options, Resources
from .chat import (
    CAMPFIRE_OPTIONS,
    HIPCHAT_OPTIONS,
    TEAMS_OPTIONS,
    CampfireChannel,
    HipChatChannel,
    TeamsChannel,
)
from .opsgenie import OPSGENIE_OPTIONS, OpsgenieChannel
from .pagerduty import PAGERDUTY_OPTIONS, PagerDutyChannel
from .printer import PRINT_OPTIONS, PrintChannel
from .slack import SLACK_OPTIONS, SlackChannel
from .webhook import WEBHOOK_OPTIONS, WebhookChannel

KINDS: dict[str, tuple[Callable[[str, Options], Channel], set[str]]] = {
    "slack": (SlackChannel.from_options, SLACK_OPTIONS),
    "email": (EmailChannel.from_options, EMAIL_OPTIONS),
    "webhook": (WebhookChannel.from_options, WEBHOOK_OPTIONS),
    "campfire": (CampfireChannel.from_options, CAMPFIRE_OPTIONS),
    "hipchat": (HipChatChannel.from_options, HIPCHAT_OPTIONS),
    "teams": (TeamsChannel.from_options, TEAMS_OPTIONS),
    "sns": (SnsChannel.from_options, SNS_OPTIONS),
    "pagerduty": (PagerDutyChannel.from_options, PAGERDUTY_OPTIONS),
    "opsgenie": (OpsgenieChannel.from_options, OPSGENIE_OPTIONS),
    "print": (PrintChannel.from_options, PRINT_OPTIONS),
}


def build_channel(name: str, options: Mapping[str, Any], where: str) -> Channel:
    """A channel from its merged options; its kind is ``type``, or its name when that names a kind."""
    kind = options.get("type", name)
    if kind not in KINDS:
        raise ConfigError(
            f"{where}: unknown channel type {kind!r} (known: {', '.join(KINDS)}); name a kind or set type:"
        )
    factory, allowed = KINDS[kind]
    return factory(name, Options(options, where, allowed))


__all__ = ["KINDS", "Channel", "Resources", "build_channel"]
