"""Slack messages for alerts: one message per target and poll, grouping every rule that changed.

Firing, reminder, severity change, resolved and unknown each have their own emoji and words;
each line carries value vs threshold, change since the last poll, a sparkline of the recent
polls, and a button to the matching Sidekiq Web page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..slack import Payload, context, escape_mrkdwn, header, truncate
from .history import History, sparkline
from .lifecycle import Decision, Notice

STYLE: dict[Notice, tuple[str, str]] = {
    "firing": ("🚨", "Firing"),
    "severity": ("🚨", "Severity changed"),
    "reminder": ("🔁", "Still firing"),
    "unknown": ("❔", "Cannot evaluate"),
    "resolved": ("✅", "Resolved"),
}
# The order lines appear in, most urgent first; also decides the header.
URGENCY: tuple[Notice, ...] = ("firing", "severity", "reminder", "unknown", "resolved")
HEADERS: dict[Notice, str] = {
    "firing": "🚨 Sidekiq alert: {}",
    "severity": "🚨 Sidekiq alert: {}",
    "reminder": "🔁 Sidekiq still alerting: {}",
    "unknown": "❔ Sidekiq rules cannot be evaluated: {}",
    "resolved": "✅ Sidekiq resolved: {}",
}
# Which Sidekiq Web tab shows a figure.
WEB_TABS = {
    "retries": ("retries", "Retries"),
    "dead": ("morgue", "Dead"),
    "scheduled": ("scheduled", "Scheduled"),
    "busy": ("busy", "Busy"),
    "processes": ("busy", "Busy"),
    "failed_per_minute": ("", "Dashboard"),
    "processed_per_minute": ("", "Dashboard"),
}


@dataclass(frozen=True)
class TargetView:
    """What a message says about the target itself."""

    name: str
    web_url: str | None
    checked_at: float


def format_number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    text = " ".join(p for p in parts if p)
    return text or f"{secs}s"


def web_link(web_url: str | None, subject: str) -> tuple[str, str] | None:
    if not web_url:
        return None
    base = web_url.rstrip("/")
    if subject.startswith(("queue:", "latency:")):
        queue = subject.split(":", 1)[1]
        return f"{base}/queues/{queue}", f"Queue {queue}"
    if subject in ("enqueued", "default_latency"):
        return f"{base}/queues", "Queues"
    path, label = WEB_TABS.get(subject, ("", "Sidekiq Web"))
    return (f"{base}/{path}" if path else base), label


def _trend(decision: Decision, history: History) -> str:
    subject = decision.finding.subject
    series = history.series(subject)
    if decision.finding.value is None or not series:
        return ""
    parts = []
    if len(series) >= 2:
        change = series[-1] - series[-2]
        parts.append(f"{'+' if change >= 0 else '-'}{format_number(abs(change))} since last poll")
    if len(series) >= 3:
        parts.append(sparkline(series))
    return " · ".join(parts)


def _line(decision: Decision, history: History, now: float) -> str:
    finding = decision.finding
    emoji, label = STYLE[decision.notice or "firing"]
    subject = escape_mrkdwn(finding.subject)
    rule = escape_mrkdwn(finding.key)
    if finding.rule.figure == "source":
        if decision.notice == "resolved":
            since = decision.previous.since or now
            down_for = format_duration(now - since)
            return f"{emoji} *{label}*: Sidekiq stats can be read again (they could not for {down_for})"
        reason = escape_mrkdwn(decision.record.reason or "unknown reason")
        failures = decision.record.failures
        return f"{emoji} *{label}*: cannot read Sidekiq stats ({failures} polls in a row)\n{reason}"
    if decision.notice == "unknown":
        return f"{emoji} *{label}* `{rule}`: the source does not provide {subject}"
    threshold = finding.rule.threshold_for(finding.severity or decision.previous.severity)
    severity = f" ({finding.severity})" if finding.severity and finding.rule.warning is not None else ""
    text = (
        f"{emoji} *{label}*{severity} `{rule}`\n*{subject}* is *{format_number(finding.value)}* "
        f"(threshold {escape_mrkdwn(finding.rule.comparator)} {format_number(threshold)})"
    )
    if decision.notice == "resolved":
        since = decision.previous.since or now
        text += f", fired for {format_duration(now - since)}"
    elif decision.notice == "reminder" and decision.previous.since:
        text += f", firing for {format_duration(now - decision.previous.since)}"
    trend = _trend(decision, history)
    return text + (f"\n{trend}" if trend else "")


def _block(decision: Decision, target: TargetView, history: History) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(_line(decision, history, target.checked_at), 3000)},
    }
    link = web_link(target.web_url, decision.finding.subject)
    if link and decision.finding.rule.figure != "source":
        block["accessory"] = {
            "type": "button",
            "text": {"type": "plain_text", "text": truncate(link[1], 75)},
            "url": link[0],
        }
    return block


def _plain(decision: Decision) -> str:
    finding = decision.finding
    label = STYLE[decision.notice or "firing"][1].upper()
    if finding.rule.figure == "source":
        return (
            f"{label}: cannot read Sidekiq stats"
            if decision.notice != "resolved"
            else f"{label}: stats readable"
        )
    if decision.notice == "unknown":
        return f"{label}: {finding.key} (no {finding.subject} in the source)"
    return f"{label}: {finding.key} ({finding.subject} is {format_number(finding.value)})"


def render_notices(target: TargetView, decisions: list[Decision], history: History) -> Payload:
    """One message for every notice of one target in one poll, most urgent first."""
    ordered = sorted(decisions, key=lambda d: URGENCY.index(d.notice or "firing"))
    top = ordered[0].notice or "firing"
    name = escape_mrkdwn(target.name)
    when = datetime.fromtimestamp(target.checked_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    emoji = STYLE[top][0]
    text = f"{emoji} Sidekiq {target.name}: " + "; ".join(_plain(d) for d in ordered)
    blocks: list[dict[str, Any]] = [header(HEADERS[top].format(target.name))]
    blocks.extend(_block(d, target, history) for d in ordered[:45])
    where = f"<{target.web_url}|Sidekiq Web>" if target.web_url else "no Sidekiq Web link configured"
    blocks.append(context(f"{name} · {where} · checked {when}"))
    return {"text": escape_mrkdwn(truncate(text, 3000)), "blocks": blocks}
