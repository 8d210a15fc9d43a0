"""The neutral message every channel delivers: what happened, how urgent, a stable key, links and facts.

Alerts (``alerts/messages``) and batch events (``batches/render``) each make one; every channel kind
turns it into its own format (Block Kit, an Adaptive Card, an e-mail, an SNS message). Text from
outside (job errors, batch descriptions, queue names) stays text here: each format escapes it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Style(StrEnum):
    PLAIN = "plain"
    BOLD = "bold"
    CODE = "code"  # untrusted text shown as is (a job's error, a rule)
    LINK = "link"


@dataclass(frozen=True)
class Span:
    text: str
    style: Style = Style.PLAIN
    url: str | None = None  # for LINK


def plain(text: str) -> Span:
    return Span(text)


def bold(text: str) -> Span:
    return Span(text, Style.BOLD)


def code(text: str) -> Span:
    return Span(text, Style.CODE)


def link(text: str, url: str) -> Span:
    return Span(text, Style.LINK, url)


Text = tuple[Span, ...]


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Paragraph:
    """One paragraph, with the page that shows its subject (a button in Slack)."""

    text: Text
    link: Link | None = None


@dataclass(frozen=True)
class Listing:
    """A titled list of untrusted lines: the first failures, the dead jobs."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Action:
    """A button a chat that can call back may show (Slack: Silence 1h); others leave it out."""

    id: str
    label: str
    value: str


class Severity(StrEnum):
    OK = "ok"  # resolved, or a batch that succeeded
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Alert:
    """One alert of a message, for receivers that track each alert on its own (a pager): triggered
    and resolved under the same ``key``."""

    key: str
    resolved: bool
    severity: Severity
    summary: str  # one line of plain text
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Message:
    """What a channel delivers. ``key`` is stable for one alert (or one batch event), so a pager can
    resolve what it triggered; ``labels`` are short facts for filtering (SNS attributes, e-mail
    subjects); ``document`` is what a webhook or SNS subscriber receives as JSON."""

    key: str
    title: str
    summary: str  # one line of plain text: notifications, fallbacks
    severity: Severity
    emoji: str = ""
    facts: tuple[tuple[str, str], ...] = ()
    paragraphs: tuple[Paragraph, ...] = ()
    listings: tuple[Listing, ...] = ()
    links: tuple[Link, ...] = ()
    footer: Text = ()
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)
    alerts: tuple[Alert, ...] = ()  # empty: the message as a whole is one alert under ``key``
    actions: tuple[Action, ...] = ()

    def as_alerts(self) -> tuple[Alert, ...]:
        if self.alerts:
            return self.alerts
        return (Alert(self.key, self.severity is Severity.OK, self.severity, self.summary, self.links),)

    @property
    def headline(self) -> str:
        return f"{self.emoji} {self.title}" if self.emoji else self.title


def plain_text_of(text: Text) -> str:
    return "".join(f"{s.text} ({s.url})" if s.style is Style.LINK and s.url else s.text for s in text)


def as_plain_text(message: Message) -> str:
    """The message as plain text (e-mail's text part, chat rooms without markup, the printer)."""
    lines = [message.title]
    if message.facts:
        lines.append(", ".join(f"{name.lower()} {value}" for name, value in message.facts))
    lines += [plain_text_of(p.text) for p in message.paragraphs]
    for listing in message.listings:
        lines += [f"{listing.title}:", *(f"  {line}" for line in listing.lines)]
    lines += [f"{item.label}: {item.url}" if len(message.links) > 1 else item.url for item in message.links]
    return "\n".join(line for line in lines if line)


def _html_of(text: Text) -> str:
    parts = []
    for span in text:
        escaped = html.escape(span.text).replace("\n", "<br>")
        if span.style is Style.BOLD:
            parts.append(f"<b>{escaped}</b>")
        elif span.style is Style.CODE:
            parts.append(f"<code>{escaped}</code>")
        elif span.style is Style.LINK and span.url:
            parts.append(f"<a href='{html.escape(span.url)}'>{escaped}</a>")
        else:
            parts.append(escaped)
    return "".join(parts)


def as_html(message: Message) -> str:
    """The message as an HTML e-mail body: every text escaped, links quoted."""
    rows = "".join(
        f"<tr><th align='left'>{html.escape(n)}</th><td>{html.escape(v)}</td></tr>" for n, v in message.facts
    )
    parts = [f"<h2>{html.escape(message.title)}</h2>", f"<table>{rows}</table>" if rows else ""]
    for paragraph in message.paragraphs:
        after = (
            f" <a href='{html.escape(paragraph.link.url)}'>{html.escape(paragraph.link.label)}</a>"
            if paragraph.link
            else ""
        )
        parts.append(f"<p>{_html_of(paragraph.text)}{after}</p>")
    for listing in message.listings:
        items = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in listing.lines)
        parts.append(f"<h3>{html.escape(listing.title)}</h3><ul>{items}</ul>")
    parts += [
        f"<p><a href='{html.escape(item.url)}'>{html.escape(item.label)}</a></p>" for item in message.links
    ]
    if message.footer:
        parts.append(f"<p><small>{_html_of(message.footer)}</small></p>")
    return "<html><body>" + "".join(parts) + "</body></html>"
