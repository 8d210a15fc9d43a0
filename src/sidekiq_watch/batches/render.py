"""Words for a batch event, shared by every channel: a title, plain text, Slack blocks, HTML."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from ..slack import code, context, escape_mrkdwn, fields, header, section, truncate
from .payload import BatchEvent

FAILURES_SHOWN = 5


def title(event: BatchEvent) -> str:
    description = f" ({truncate(event.status.description, 80)})" if event.status.description else ""
    if event.event == "death":
        return f"Sidekiq batch {event.bid}{description}: a job died"
    label = "succeeded" if event.succeeded else "complete"
    return f"Sidekiq batch {event.bid}{description} {label}"


def dead_lines(event: BatchEvent) -> list[str]:
    """The jobs of the batch found dead, by class and error (a death event's subject)."""
    lines = []
    for job in event.status.dead_jobs[:FAILURES_SHOWN]:
        error = ": ".join(part for part in (job.error_class, truncate(job.error_message or "", 300)) if part)
        lines.append(f"{job.job_class or '?'} ({job.jid or '?'})" + (f": {error}" if error else ""))
    return lines


def counts(event: BatchEvent) -> list[tuple[str, str]]:
    status = event.status
    found = [("Total", status.total), ("Failures", status.failures), ("Pending", status.pending)]
    return [(name, str(value)) for name, value in found if value is not None]


def failure_lines(event: BatchEvent) -> list[str]:
    lines = []
    for failure in event.status.failure_info[:FAILURES_SHOWN]:
        what = failure.error_class or "error"
        message = truncate(failure.error_message or "", 300)
        lines.append(f"{failure.jid or '?'}: {what}: {message}".rstrip(": "))
    more = len(event.status.failure_info) - FAILURES_SHOWN
    if more > 0:
        lines.append(f"… and {more} more")
    return lines


def batch_link(event: BatchEvent, web_url: str | None) -> str | None:
    """The batch's page, or for a death the Dead tab; the bid is untrusted, so it is quoted whole
    (no ``/``, ``|``, ``>`` survive)."""
    if not web_url:
        return None
    if event.event == "death":
        return f"{web_url.rstrip('/')}/morgue"
    return f"{web_url.rstrip('/')}/batches/{quote(event.bid, safe='')}"


def link_label(event: BatchEvent) -> str:
    return "Dead jobs in Sidekiq Web" if event.event == "death" else "Batch in Sidekiq Web"


def plain_text(event: BatchEvent, web_url: str | None = None) -> str:
    lines = [title(event), ", ".join(f"{name.lower()} {value}" for name, value in counts(event))]
    dead = dead_lines(event)
    if dead:
        lines += ["Dead:", *(f"  {line}" for line in dead)]
    failures = failure_lines(event)
    if failures:
        lines += ["Failures:", *(f"  {line}" for line in failures)]
    link = batch_link(event, web_url)
    if link:
        lines.append(link)
    return "\n".join(line for line in lines if line)


def slack_payload(event: BatchEvent, web_url: str | None = None) -> dict[str, Any]:
    """Block Kit with counts and the first failures; every payload text is escaped (it is untrusted)."""
    emoji = (
        "💀" if event.event == "death" else "✅" if event.succeeded and not event.status.failures else "📦"
    )
    blocks: list[dict[str, Any]] = [header(f"{emoji} {title(event)}")]
    if counts(event):
        blocks.append(fields(counts(event)))
    dead = dead_lines(event)
    if dead:
        blocks.append(section("*Dead*\n" + "\n".join(f"• {code(line)}" for line in dead)))
    failures = failure_lines(event)
    if failures:
        blocks.append(section("*First failures*\n" + "\n".join(f"• {code(f)}" for f in failures)))
    link = batch_link(event, web_url)
    blocks.append(context(f"<{link}|{link_label(event)}>" if link else f"bid {escape_mrkdwn(event.bid)}"))
    return {"text": escape_mrkdwn(f"{emoji} {title(event)}"), "blocks": blocks}


def html_body(event: BatchEvent, web_url: str | None = None) -> str:
    rows = "".join(f"<tr><th align='left'>{n}</th><td>{v}</td></tr>" for n, v in counts(event))
    failures = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in failure_lines(event))
    dead = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in dead_lines(event))
    link = batch_link(event, web_url)
    parts = [
        f"<h2>{html.escape(title(event))}</h2>",
        f"<table>{rows}</table>" if rows else "",
        f"<h3>Dead</h3><ul>{dead}</ul>" if dead else "",
        f"<h3>Failures</h3><ul>{failures}</ul>" if failures else "",
        f"<p><a href='{html.escape(link)}'>{link_label(event)}</a></p>" if link else "",
    ]
    return "<html><body>" + "".join(parts) + "</body></html>"
