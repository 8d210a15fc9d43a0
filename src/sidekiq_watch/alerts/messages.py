"""Slack messages for alerts: Block Kit blocks plus a plain ``text`` fallback for notifications."""

from __future__ import annotations

from datetime import datetime

from ..slack import Payload, context, escape_mrkdwn, fields, header, section
from ..stats.snapshot import Snapshot
from .rules import Finding


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _figure_fields(snapshot: Snapshot) -> list[tuple[str, str]]:
    shown = [(name, value) for name, value in snapshot.figures().items() if not name.startswith("latency:")]
    return [(escape_mrkdwn(name), _number(value)) for name, value in shown]


def render_firing(source: str, firing: list[Finding], snapshot: Snapshot, checked_at: datetime) -> Payload:
    """One message for every rule firing on one source."""
    lines = [f"{f.rule.figure} is {_number(f.value)} (alert when {f.rule.name})" for f in firing]
    src = escape_mrkdwn(source)
    text = f":rotating_light: Sidekiq alert on {source}: " + "; ".join(lines) + f" at {_when(checked_at)}"
    blocks = [
        header(f"🚨 Sidekiq alert: {source}"),
        section("\n".join(f"• *{escape_mrkdwn(line)}*" for line in lines)),
        fields(_figure_fields(snapshot)),
        context(f"Source: {src} · shape: {snapshot.shape} · checked {_when(checked_at)}"),
    ]
    return {"text": escape_mrkdwn(text), "blocks": blocks}


def render_source_down(source: str, reason: str, checked_at: datetime) -> Payload:
    """The source itself could not be read: that is an alert too."""
    src = escape_mrkdwn(source)
    text = f":warning: Cannot read Sidekiq stats from {source}: {reason} at {_when(checked_at)}"
    blocks = [
        header(f"⚠️ Cannot read Sidekiq stats: {source}"),
        section(escape_mrkdwn(reason)),
        context(f"Source: {src} · checked {_when(checked_at)}"),
    ]
    return {"text": escape_mrkdwn(text), "blocks": blocks}
