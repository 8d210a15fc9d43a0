"""`sidekiq-watch check` and `test-notify`: validate everything, read every target once, say what is wrong.

Secrets are resolved to prove they can be read, and never shown: a check says which reference
failed and why, nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import requests

from .alerts.config import Target, WatchConfig, load_watch_config
from .alerts.lifecycle import SOURCE_RULE, AlertRecord, decide, hold_of
from .alerts.messages import format_duration
from .alerts.persistence import AlertStore
from .alerts.receivers import ConfiguredReceivers, slack_channel
from .alerts.rules import evaluate, left_out
from .alerts.silences import Quieter
from .channels import Channel
from .channels.message import Message, Paragraph, Severity, bold, code, plain
from .errors import ConfigError, DeliveryError, SidekiqWatchError
from .poll import alert_resources, open_store, target_source
from .secrets import Secret
from .settings import BatchSettings, PollerSettings
from .stats.snapshot import FIGURES
from .verdict import Verdict


@dataclass
class Check:
    """One thing verified: ``ok`` False means the operator has something to fix."""

    area: str
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"area": self.area, "name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class TargetCheck:
    name: str
    location: str
    latency_ms: float | None = None
    shape: str | None = None
    error: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)  # every figure the source gave
    unseen: tuple[str, ...] = ()  # figures this source cannot give
    left_out: tuple[str, ...] = ()  # bundled rules left out for this source (their figure unseen)
    reaches: dict[str, list[str]] = field(default_factory=dict)  # "rule (severity)" -> receivers

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "source": self.location,
            "latency_ms": self.latency_ms,
            "shape": self.shape,
            "error": self.error,
            "rules": self.rows,
            "figures": self.figures,
            "unseen": list(self.unseen),
            "reaches": self.reaches,
            "left_out": list(self.left_out),
        }


@dataclass
class CheckReport:
    checks: list[Check] = field(default_factory=list)
    targets: list[TargetCheck] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)  # the routing tree in words
    quiet: list[str] = field(default_factory=list)  # active silences and windows, and what each quiets now

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and not any(t.error for t in self.targets)

    @property
    def firing(self) -> bool:
        return any(row["status"] == "firing" for t in self.targets for row in t.rows)

    def verdict(self) -> Verdict:
        """What `poll` would answer in the same situation (tests hold the two to each other)."""
        failed = {check.area for check in self.checks if not check.ok}
        if failed & {"config", "batch config", "secret"}:
            return Verdict.CONFIG
        if "state" in failed:
            return Verdict.FAILED
        if self.firing or any(t.error for t in self.targets):
            return Verdict.ALERTING
        return Verdict.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "firing": self.firing,
            "checks": [c.as_dict() for c in self.checks],
            "targets": [t.as_dict() for t in self.targets],
            "routes": self.routes,
            "quiet": self.quiet,
        }


def watch_secrets(
    settings: PollerSettings, batch: BatchSettings, config: WatchConfig | None
) -> Iterator[Secret]:
    for secret in (
        settings.slack_webhook_url,
        settings.stats_password,
        settings.stats_token,
        batch.auth_password,
        batch.auth_token,
    ):
        if secret is not None:
            yield secret
    for target in config.targets if config else ():
        for secret in (target.auth.password, target.auth.token, target.slack_webhook_url):
            if secret is not None:
                yield secret


def batch_secrets(channels: Iterable[Any]) -> Iterator[Secret]:
    for channel in channels:
        for value in vars(channel).values():
            if isinstance(value, Secret):
                yield value


def check_secret(secret: Secret) -> Check:
    if secret.reference is None:
        return Check("secret", secret.variable, True, "set as a literal value (consider ssm:/… in AWS)")
    try:
        secret.reveal()
    except SidekiqWatchError as exc:
        return Check("secret", secret.variable, False, str(exc))
    return Check("secret", secret.variable, True, f"{secret.reference} can be read")


def check_target(
    target: Target, settings: PollerSettings, session: requests.Session, store: AlertStore | None = None
) -> TargetCheck:
    """One target read once, each rule judged; with the alert state, the rules waiting out a hold."""
    source = target_source(settings, target, session=session)
    result = TargetCheck(target.name, source.location)
    started = time.perf_counter()
    try:
        snapshot = source.read()
    except SidekiqWatchError as exc:
        result.error = str(exc)
        return result
    finally:
        result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    result.shape = snapshot.shape
    figures = snapshot.figures()
    result.figures = figures
    result.unseen = tuple(name for name in FIGURES if name not in figures)
    result.left_out = tuple(rule.key for rule in target.rules if rule.bundled and left_out(rule, figures))
    records = store.load(target.name).records if store is not None else {}
    now = time.time()
    for finding in evaluate(figures, target.rules):
        row = {
            "figure": finding.subject,
            "value": finding.value,
            "rule": finding.key,
            "rule_key": finding.rule.key,
            "status": finding.status,
            "severity": finding.severity,
        }
        previous = records.get(finding.key) or AlertRecord(target.name, finding.key)
        hold = hold_of(decide(previous, finding, now, 3600.0), now)
        if hold is not None:
            row["status"] = hold.state
            row["held"] = f"{format_duration(hold.held)} of {format_duration(hold.needed)}"
        result.rows.append(row)
    return result


def run_check(
    settings: PollerSettings,
    batch_settings: BatchSettings,
    session: requests.Session,
    progress: Callable[[str], None] | None = None,
) -> CheckReport:
    report = CheckReport()
    config: WatchConfig | None = None
    try:
        config = load_watch_config(settings)
        report.checks.append(
            Check(
                "config",
                settings.config_reference or "bundled rules",
                True,
                f"{len(config.targets)} target(s), {sum(len(t.rules) for t in config.targets)} rule(s)",
            )
        )
    except ConfigError as exc:
        report.checks.append(Check("config", settings.config_reference or "bundled rules", False, str(exc)))
    batch_channels: list[Any] = []
    if batch_settings.batch_config_reference:
        from .batches.config import load_batch_config

        try:
            batch = load_batch_config(batch_settings.batch_config_reference)
            batch_channels = list({c.name: c for route in batch.routes for c in route.channels}.values())
            report.checks.append(
                Check(
                    "batch config",
                    batch_settings.batch_config_reference,
                    True,
                    f"{len(batch.routes)} route(s), {len(batch_channels)} channel(s)",
                )
            )
        except ConfigError as exc:
            report.checks.append(
                Check("batch config", batch_settings.batch_config_reference, False, str(exc))
            )
    for secret in [*watch_secrets(settings, batch_settings, config), *batch_secrets(batch_channels)]:
        report.checks.append(check_secret(secret))
    if config is None:
        return report
    store: AlertStore | None = None
    try:
        store = open_store(settings)
        store.load(config.targets[0].name)
        report.checks.append(Check("state", store.description, True, "readable"))
    except SidekiqWatchError as exc:
        store = None
        report.checks.append(
            Check("state", settings.state_table or settings.state_file or "local file", False, str(exc))
        )
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(32, len(config.targets))) as pool:
        futures = [pool.submit(check_target, t, settings, session, store) for t in config.targets]
        for index, future in enumerate(futures, 1):
            report.targets.append(future.result())
            if progress:
                progress(f"read {index}/{len(futures)} targets")
    receivers = ConfiguredReceivers(settings, config)
    report.routes = config.route.lines() if config.route else []
    report.quiet = quieted_now(store, config, report.targets)
    for target, checked in zip(config.targets, report.targets, strict=True):
        checked.reaches = reaches(target, receivers)
    return report


def quieted_now(store: AlertStore | None, config: WatchConfig, targets: list[TargetCheck]) -> list[str]:
    """Each active silence and window, and which of the rules firing now it keeps quiet."""
    now = time.time()
    quieters: tuple[Quieter, ...] = (
        *(store.load_silences() if store is not None else ()),
        *config.silence_windows,
    )
    lines = []
    for quieter in quieters:
        if not quieter.active(now):
            continue
        quiets = []
        for target in targets:
            for row in target.rows:
                labels = {"target": target.name, "rule": row["rule_key"], "severity": row["severity"] or ""}
                if row["status"] in ("firing", "pending", "clearing") and quieter.matches(labels):
                    quiets.append(f"{target.name} {row['rule']}")
        matchers = " ".join(f"{name}={glob}" for name, glob in quieter.matchers)
        what = ", ".join(quiets) or "nothing firing now"
        lines.append(f"{quieter.id} ({matchers}, {quieter.words}): {what}")
    return lines


def reaches(target: Target, receivers: ConfiguredReceivers) -> dict[str, list[str]]:
    """Which receivers each rule of the target reaches, at each severity it can fire with."""
    found: dict[str, list[str]] = {}
    for rule in (SOURCE_RULE, *target.rules):
        for level, at in (("warning", rule.warning), ("critical", rule.critical)):
            if at is not None:
                labels = {"target": target.name, "rule": rule.key, "severity": level}
                found[f"{rule.key} ({level})"] = list(receivers.route(target, labels))
    return found


def sample_message(destination: str, when: datetime | None = None) -> Message:
    """The clearly marked test message `test-notify` sends."""
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    sentence = (
        plain("This is a "),
        bold("test"),
        plain(", sent by "),
        code("sidekiq-watch test-notify"),
        plain(f" at {stamp}. Nothing is wrong."),
    )
    return Message(
        key=f"sidekiq-watch/test/{destination}",
        title="sidekiq-watch test message",
        summary=f":white_check_mark: TEST from sidekiq-watch to {destination}: alerts will arrive here.",
        severity=Severity.INFO,
        emoji="🧪",
        paragraphs=(Paragraph(sentence),),
        footer=(plain(f"Destination: {destination}"),),
        labels={"test": "true"},
    )


def notify_targets(settings: PollerSettings, session: requests.Session, only: str | None) -> list[Check]:
    """A clearly marked test message to every Slack webhook and receiver the poller would use."""
    results: list[Check] = []
    try:
        config: WatchConfig | None = load_watch_config(settings)
    except ConfigError as exc:
        config = None
        if settings.config_reference is not None:  # a document was named: say it, never swallow it
            results.append(Check("notify", "targets' webhooks", False, str(exc)))
    destinations: dict[str, tuple[Secret, str | None]] = {}
    if settings.slack_webhook_url is not None:
        destinations["slack"] = (settings.slack_webhook_url, settings.slack_channel)
    for target in config.targets if config else ():
        if target.slack_webhook_url is not None:
            destinations[f"slack:{target.name}"] = (target.slack_webhook_url, target.slack_channel)
    channels: dict[str, Channel] = {
        name: slack_channel(settings, name, secret, channel)
        for name, (secret, channel) in destinations.items()
    }
    for name, receiver in (config.receivers if config else {}).items():
        channels[f"receiver:{name}"] = receiver
    resources = alert_resources(settings, session=session)
    for name, receiver in channels.items():
        if only and only not in (name, name.removeprefix("receiver:")):
            continue
        message = sample_message(name)
        try:
            receiver.deliver(message, resources)
            if receiver.kind in PAGERS:  # a pager's test is an incident: resolved at once
                receiver.deliver(replace(message, severity=Severity.OK), resources)
        except SidekiqWatchError as exc:
            results.append(Check("notify", name, False, str(exc)))
        else:
            results.append(
                Check("notify", name, True, "sent" + (", then resolved" if receiver.kind in PAGERS else ""))
            )
    return results


# Receivers that open an incident per alert: their test is triggered, then resolved.
PAGERS = ("pagerduty", "opsgenie")


def notify_batch_channels(settings: BatchSettings, only: str | None) -> list[Check]:
    """A test batch event, marked as such, to every configured batch channel (no exactly-once records)."""
    if not settings.batch_config_reference:
        return []
    from .batches.config import load_batch_config
    from .batches.payload import BatchEvent, BatchStatus
    from .batches.render import batch_message
    from .channels import Resources

    try:
        batch = load_batch_config(settings.batch_config_reference)
    except ConfigError as exc:
        return [Check("notify", "batch channels", False, str(exc))]
    event = BatchEvent(
        BatchStatus(
            bid=f"sidekiq-watch-test-{int(time.time())}",
            total=1,
            failures=0,
            pending=0,
            description="TEST from sidekiq-watch test-notify: nothing is wrong",
        ),
        "success",
    )
    resources = Resources(
        timeout=settings.http_timeout_seconds, web_url=batch.web_url or settings.sidekiq_web_url
    )
    results = []
    for channel in {c.name: c for route in batch.routes for c in route.channels}.values():
        name = f"batch:{channel.name}"  # apart from the poller's own "slack" and "slack:TARGET"
        if only and only not in (name, channel.name):
            continue
        try:
            detail = channel.deliver(batch_message(event, resources.web_url), resources)
        except (DeliveryError, SidekiqWatchError) as exc:
            results.append(Check("notify", name, False, str(exc)))
        else:
            results.append(Check("notify", name, True, detail))
    return results
