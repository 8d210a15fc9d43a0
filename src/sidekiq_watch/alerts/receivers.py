"""Who hears a target's alerts: the receivers its route names, each one's channel, and the record
key under which each receiver keeps what it was told."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..channels import Channel
from ..channels.printer import PrintChannel
from ..channels.slack import SlackChannel
from ..secrets import Secret
from ..settings import PollerSettings
from .config import DEFAULT_RECEIVER, Target, WatchConfig
from .persistence import TargetState


class Receivers(Protocol):
    """Who hears a target's alerts: the receivers routes send it to, and each one's channel."""

    def route(self, target: Target, labels: Mapping[str, str]) -> tuple[str, ...]: ...

    def channel(self, target: Target, name: str) -> Channel: ...


def legacy_receiver(target: Target) -> str:
    """The one receiver alerts had before routing: the target's own webhook, or the default."""
    return f"slack:{target.name}" if target.slack_webhook_url else DEFAULT_RECEIVER


def record_key(key: str, receiver: str, target: Target) -> str:
    """Each receiver keeps its own record of what it was told; the default receivers keep the keys
    every alert had before routing, so an upgrade announces nothing twice."""
    if receiver in (DEFAULT_RECEIVER, f"slack:{target.name}"):
        return key
    return f"{key} @{receiver}"


@dataclass(frozen=True)
class Told:
    """Per alert key, the receivers whose record of it fires (or cannot be evaluated) and the
    severity it last fired with: indexed once per poll, from the target's records."""

    receivers: dict[str, list[str]]
    severities: dict[str, str]

    @classmethod
    def of(cls, state: TargetState, target: Target) -> Told:
        receivers: dict[str, list[str]] = {}
        severities: dict[str, str] = {}
        for record in state.records.values():
            key, name = record.key, legacy_receiver(target)
            if " @" in record.key:
                key, _, name = record.key.rpartition(" @")
            if record.severity:
                severities.setdefault(key, record.severity)
            if record.status != "ok":
                receivers.setdefault(key, []).append(name)
        return cls(receivers, severities)


@dataclass(frozen=True)
class OneReceiver:
    """Every alert to ``channel_for(target)``, under the keys alerts had before routing."""

    channel_for: Callable[[Target], Channel]

    def route(self, target: Target, labels: Mapping[str, str]) -> tuple[str, ...]:
        return (legacy_receiver(target),)

    def channel(self, target: Target, name: str) -> Channel:
        return self.channel_for(target)


DRY_RUN = "printed (dry run: SLACK_WEBHOOK_URL is not set)"


def sent_by(channel: Channel) -> str:
    """Where an alert went, in the report's words."""
    if channel.kind == "print":
        return DRY_RUN
    return "posted to Slack" if channel.kind == "slack" else f"sent to {channel.kind} {channel.name}"


def dry_run_channel() -> PrintChannel:
    """No webhook: the Slack message is printed, as it would be posted."""
    return PrintChannel(
        "dry-run", form="slack", heading="Slack message (dry run, SLACK_WEBHOOK_URL is not set):"
    )


def slack_channel(settings: PollerSettings, name: str, url: Secret, channel: str | None) -> SlackChannel:
    """A Slack webhook with the settings' overrides: the one wiring the poller and `test-notify` use."""
    return SlackChannel(name, url, channel, settings.slack_username, settings.slack_icon_emoji)


@dataclass(frozen=True)
class ConfiguredReceivers:
    """The configuration's receivers and route; without a route, every alert goes to its target's
    Slack webhook (or SLACK_WEBHOOK_URL's), as before routing. A dry run prints every message."""

    settings: PollerSettings
    config: WatchConfig
    dry_run: bool = False
    printer: PrintChannel = field(default_factory=dry_run_channel)

    def route(self, target: Target, labels: Mapping[str, str]) -> tuple[str, ...]:
        if self.config.route is None:
            return (legacy_receiver(target),)
        return self.config.route.receivers(labels)

    def channel(self, target: Target, name: str) -> Channel:
        if self.dry_run:
            return self.printer
        if name in self.config.receivers:
            return self.config.receivers[name]
        own = name == f"slack:{target.name}" and target.slack_webhook_url is not None
        webhook = target.slack_webhook_url if own else self.settings.slack_webhook_url
        if webhook is None:
            return self.printer
        channel = target.slack_channel or self.settings.slack_channel
        return slack_channel(self.settings, name, webhook, channel)
