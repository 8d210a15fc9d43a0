"""Alert messages: one per target and poll, grouping every rule that changed, made neutral for any channel.

Firing, reminder, severity change, resolved and unknown each have their own emoji and words;
each line carries value vs threshold, change since the last poll, a sparkline of the recent
polls, and a button to the matching Sidekiq Web page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, zip_longest
from urllib.parse import quote

from ..channels.message import (
    Action,
    Alert,
    Link,
    Message,
    Paragraph,
    Severity,
    Span,
    Text,
    bold,
    code,
    link,
    plain,
)
from ..stats.failures import EXPLAINED_BY, FailureSummary
from .history import History, sparkline
from .lifecycle import Decision, Notice

STYLE: dict[Notice, tuple[str, str]] = {
    "firing": ("🚨", "Firing"),
    "severity": ("🚨", "Severity changed"),
    "reminder": ("🔁", "Still firing"),
    "unsilenced": ("🔔", "Still firing"),
    "unknown": ("❔", "Cannot evaluate"),
    "resolved": ("✅", "Resolved"),
}
# The order lines appear in, most urgent first; also decides the header.
URGENCY: tuple[Notice, ...] = ("firing", "severity", "unsilenced", "reminder", "unknown", "resolved")
HEADERS: dict[Notice, str] = {
    "firing": "🚨 Sidekiq alert: {}",
    "severity": "🚨 Sidekiq alert: {}",
    "reminder": "🔁 Sidekiq still alerting: {}",
    "unsilenced": "🔔 Sidekiq still alerting: {}",
    "unknown": "❔ Sidekiq rules cannot be evaluated: {}",
    "resolved": "✅ Sidekiq resolved: {}",
}
# Which Sidekiq Web tab shows a figure.
WEB_TABS = {
    "retries": ("retries", "Retries"),
    "dead": ("morgue", "Dead"),
    "dead_added": ("morgue", "Dead"),
    "scheduled": ("scheduled", "Scheduled"),
    "busy": ("busy", "Busy"),
    "processes": ("busy", "Busy"),
    "stalled": ("busy", "Busy"),
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


# Slack allows 50 blocks a message: a header, this many findings, one summary and the context.
DETAILED_FINDINGS = 40
WORST_NAMED = 5


def web_link(web_url: str | None, subject: str, *, pattern: bool = False) -> tuple[str, str] | None:
    """The Sidekiq Web page for a figure; a queue name is quoted whole (Sidekiq Web escapes its own
    links the same way), and a rule's glob (``pattern``: no queue matched it) links to all queues."""
    if not web_url:
        return None
    base = web_url.rstrip("/")
    if subject.startswith(("queue:", "latency:")):
        queue = subject.split(":", 1)[1]
        if pattern:
            return f"{base}/queues", "Queues"
        return f"{base}/queues/{quote(queue, safe='')}", f"Queue {queue}"
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


def _why(summary: FailureSummary | None) -> list[Span]:
    """Top job and error classes among the set's newest entries (the app's text: kept as text)."""
    if summary is None or not summary.groups:
        return []
    spans = [plain(f"\nAmong the newest {summary.sampled}:")]
    for group in summary.groups:
        spans += [
            plain("\n• "),
            code(group.job_class),
            plain(f" \u00d7{group.count} \u2014 "),
            code(group.error_class),
        ]
        if group.error_message:
            spans.append(plain(f": {group.error_message}"))
    return spans


def jobs_by_subject(oldest_jobs: Mapping[str, str], running_longest: str | None) -> dict[str, str]:
    """The jobs a message may name, by the subject of the finding that names them: each queue's
    oldest waiting job (``latency:NAME``, and ``default_latency``), and the job running longest."""
    named = {f"latency:{queue}": job for queue, job in oldest_jobs.items()}
    if "latency:default" in named:
        named["default_latency"] = named["latency:default"]
    if running_longest:
        named["longest_running_seconds"] = running_longest
    return named


def _named_job(subject: str, named_jobs: Mapping[str, str]) -> list[Span]:
    job = named_jobs.get(subject)
    if not job:
        return []
    label = "Running longest" if subject == "longest_running_seconds" else "Oldest job waiting"
    return [plain(f"\n{label}: "), code(job)]


def _line(
    decision: Decision,
    history: History,
    now: float,
    why: Mapping[str, FailureSummary],
    named_jobs: Mapping[str, str] | None = None,
) -> Text:
    finding = decision.finding
    emoji, label = STYLE[decision.notice or "firing"]
    if finding.rule.figure == "source":
        if decision.notice == "resolved":
            since = decision.previous.failing_since or decision.previous.since or now
            down_for = format_duration(now - since)
            return (
                plain(f"{emoji} "),
                bold(label),
                plain(f": Sidekiq stats can be read again (they could not for {down_for})"),
            )
        reason = decision.record.reason or "unknown reason"
        failures = decision.record.failures
        return (
            plain(f"{emoji} "),
            bold(label),
            plain(f": cannot read Sidekiq stats ({failures} polls in a row)\n{reason}"),
        )
    rule = code(finding.key)
    if decision.notice == "unknown":
        return (
            plain(f"{emoji} "),
            bold(label),
            plain(" "),
            rule,
            plain(f": the source does not provide {finding.subject}"),
        )
    threshold = finding.rule.threshold_for(finding.severity or decision.previous.severity)
    severity = f" ({finding.severity})" if finding.severity and finding.rule.warning is not None else ""
    silence = f" ({decision.silence})" if decision.silence else ""
    spans = [
        plain(f"{emoji} "),
        bold(label),
        plain(f"{severity} "),
        rule,
        plain(f"{silence}\n"),
        bold(finding.subject),
        plain(" is "),
        bold(format_number(finding.value)),
        plain(f" (threshold {finding.rule.comparator} {format_number(threshold)})"),
    ]
    if decision.notice == "resolved":
        since = decision.previous.since or now
        spans.append(plain(f", fired for {format_duration(now - since)}"))
    elif decision.notice in ("reminder", "unsilenced") and decision.previous.since:
        spans.append(plain(f", firing for {format_duration(now - decision.previous.since)}"))
    trend = _trend(decision, history)
    if trend:
        spans.append(plain(f"\n{trend}"))
    if finding.rule.description:
        spans.append(plain(f"\n{finding.rule.description}"))
    if decision.notice != "resolved":
        figure = EXPLAINED_BY.get(finding.rule.figure, finding.rule.figure)
        spans += _why(why.get(figure)) + _named_job(finding.subject, named_jobs or {})
        advice = WHAT_TO_DO.get(finding.rule.figure)
        if advice:
            spans.append(plain(f"\n\u27a1\ufe0f {advice}"))
        if finding.rule.runbook:
            spans += [plain("\n\U0001f4d6 "), link("Runbook", finding.rule.runbook)]
    return tuple(spans)


# One line each: what to do when a figure of a silent job loss fires.
WHAT_TO_DO = {
    "live_processes": "No Sidekiq process has beaten for a minute: restart the workers, see why they died.",
    "quiet_processes": "A quieted (TSTP) process still holds its slot: finish the deploy or send it TERM.",
    "scheduled_overdue_seconds": "Nothing enqueues scheduled jobs: start a Sidekiq process (its scheduler).",
    "retry_overdue_seconds": "Nothing enqueues due retries: start a Sidekiq process (its scheduler).",
    "redis_evicts": "Redis may evict Sidekiq's keys (jobs lost): set maxmemory-policy noeviction.",
    "redis_evicted_keys": "Redis evicted keys, perhaps Sidekiq's jobs: set noeviction, raise maxmemory.",
    "dead_added": "Jobs died after their last retry: see the Dead tab (it keeps only the newest 10,000).",
    "redis_memory_percent": "Sidekiq's Redis is filling up: raise maxmemory or clear the dead set.",
    "longest_running_seconds": "A job holds its thread far too long: look at it (TTIN dumps the threads).",
}


def _paragraph(
    decision: Decision,
    target: TargetView,
    history: History,
    why: Mapping[str, FailureSummary],
    named_jobs: Mapping[str, str],
) -> Paragraph:
    line = _line(decision, history, target.checked_at, why, named_jobs)
    finding = decision.finding
    page = web_link(target.web_url, finding.subject, pattern=finding.subject == finding.rule.figure)
    if page and decision.finding.rule.figure != "source":
        return Paragraph(line, Link(page[1], page[0]))
    return Paragraph(line)


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
    silence = f", {decision.silence}" if decision.silence else ""
    return f"{label}: {finding.key} ({finding.subject} is {format_number(finding.value)}{silence})"


def _worst_first(decisions: list[Decision]) -> list[Decision]:
    """Largest values first, or smallest for a rule that fires below its threshold."""
    below = decisions[0].finding.rule.comparator.startswith("<")
    return sorted(decisions, key=lambda d: (d.finding.value or 0.0) * (1 if below else -1))


def _detailed_and_rest(ordered: list[Decision]) -> tuple[list[Decision], list[Decision]]:
    """At most DETAILED_FINDINGS shown in full, taken in turn from each (notice, rule) group so
    that no rule vanishes behind another's many queues; the worst of each group first."""
    if len(ordered) <= DETAILED_FINDINGS + 1:
        return ordered, []
    groups: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for decision in ordered:
        groups[(decision.notice or "firing", decision.finding.rule.key)].append(decision)
    interleaved = [d for d in chain(*zip_longest(*(_worst_first(g) for g in groups.values()))) if d]
    chosen = {id(d) for d in interleaved[:DETAILED_FINDINGS]}
    return [d for d in ordered if id(d) in chosen], [d for d in ordered if id(d) not in chosen]


def _summary(rest: list[Decision]) -> Paragraph:
    """Everything not shown in full, counted per rule with its worst subjects named: so all that is
    recorded as announced was in the message."""
    groups: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for decision in rest:
        groups[(decision.notice or "firing", decision.finding.rule.key)].append(decision)
    spans = [bold(f"… and {len(rest)} more")]
    for (notice, key), group in groups.items():
        worst = ", ".join(
            f"{d.finding.subject.split(':', 1)[-1]} {format_number(d.finding.value)}"
            for d in _worst_first(group)[:WORST_NAMED]
        )
        more = ", …" if len(group) > WORST_NAMED else ""
        emoji = STYLE[group[0].notice or "firing"][0]
        spans += [plain(f"\n{emoji} "), code(key), plain(f" \u00d7{len(group)} {notice}: {worst}{more}")]
    return Paragraph(tuple(spans))


def _alert(decision: Decision, target: TargetView) -> Alert:
    """The decision as one alert for a pager: a stable key, triggered or resolved, its pages."""
    finding = decision.finding
    level = finding.severity or decision.previous.severity
    if decision.notice == "resolved":
        severity = Severity.OK
    elif decision.notice == "unknown":
        severity = Severity.INFO
    else:
        severity = Severity.WARNING if level == "warning" else Severity.CRITICAL
    pages = []
    page = web_link(target.web_url, finding.subject, pattern=finding.subject == finding.rule.figure)
    if page and finding.rule.figure != "source":
        pages.append(Link(page[1], page[0]))
    if finding.rule.runbook:
        pages.append(Link("Runbook", finding.rule.runbook))
    return Alert(
        key=f"sidekiq-watch/{target.name}/{finding.key}",
        resolved=decision.notice == "resolved",
        severity=severity,
        summary=f"Sidekiq {target.name}: {_plain(decision)}",
        links=tuple(pages),
    )


def buttons_for(target: str, decisions: list[Decision]) -> tuple[Action, ...]:
    """Silence buttons for what still fires (a message of resolves alone has none)."""
    from .slack_actions import silence_buttons

    firing = [d.finding.rule.key for d in decisions if d.notice != "resolved"]
    return silence_buttons(target, firing) if firing else ()


def _severity(decisions: list[Decision]) -> Severity:
    """The most urgent of what is announced: resolved alone is OK."""
    found = {d.finding.severity or d.previous.severity for d in decisions if d.notice != "resolved"}
    if not found:
        return Severity.OK
    if "critical" in found or None in found:
        return Severity.CRITICAL
    return Severity.WARNING if "warning" in found else Severity.INFO


def render_notices(
    target: TargetView,
    decisions: list[Decision],
    history: History,
    why: Mapping[str, FailureSummary] | None = None,
    oldest_jobs: Mapping[str, str] | None = None,
    running_longest: str | None = None,
    *,
    silence_buttons: bool = False,
) -> Message:
    """One message for every notice of one target in one poll, most urgent first; ``why`` says,
    per figure (retries, dead), which jobs fail and how; ``oldest_jobs`` (by queue) and
    ``running_longest`` which jobs latency and long-running alerts name."""
    ordered = sorted(decisions, key=lambda d: URGENCY.index(d.notice or "firing"))
    top = ordered[0].notice or "firing"
    when = datetime.fromtimestamp(target.checked_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    emoji = STYLE[top][0]
    summary = f"{emoji} Sidekiq {target.name}: " + "; ".join(_plain(d) for d in ordered)
    detailed, rest = _detailed_and_rest(ordered)
    named = jobs_by_subject(oldest_jobs or {}, running_longest)
    paragraphs = [_paragraph(d, target, history, why or {}, named) for d in detailed]
    if rest:
        paragraphs.append(_summary(rest))
    where = link("Sidekiq Web", target.web_url) if target.web_url else plain("no Sidekiq Web link configured")
    [single] = ordered if len(ordered) == 1 else [None]
    return Message(
        key=f"sidekiq-watch/{target.name}" + (f"/{single.finding.key}" if single else ""),
        title=HEADERS[top].format(target.name).split(" ", 1)[1],
        summary=summary,
        severity=_severity(ordered),
        emoji=emoji,
        paragraphs=tuple(paragraphs),
        footer=(plain(f"{target.name} · "), where, plain(f" · checked {when}")),
        labels={"target": target.name, "status": top},
        alerts=tuple(_alert(d, target) for d in ordered),
        actions=buttons_for(target.name, ordered) if silence_buttons else (),
        document={
            "target": target.name,
            "checked_at": target.checked_at,
            "notices": [
                {
                    "rule": d.finding.key,
                    "subject": d.finding.subject,
                    "status": d.notice,
                    "severity": d.finding.severity,
                    "value": d.finding.value,
                }
                for d in ordered
            ],
        },
    )
