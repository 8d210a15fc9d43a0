"""A batch event as the neutral message every channel delivers: its title, counts, failures and link."""

from __future__ import annotations

from urllib.parse import quote

from ..channels.message import Link, Listing, Message, Severity, plain
from ..channels.slack import truncate
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


def severity(event: BatchEvent) -> Severity:
    if event.event == "death":
        return Severity.CRITICAL
    return Severity.WARNING if event.status.failures else Severity.OK


def emoji(event: BatchEvent) -> str:
    if event.event == "death":
        return "💀"
    return "✅" if event.succeeded and not event.status.failures else "📦"


def batch_message(event: BatchEvent, web_url: str | None = None) -> Message:
    """What every channel delivers for this event; the bid and texts stay untrusted text in it."""
    link = batch_link(event, web_url)
    listings = [("Dead", dead_lines(event)), ("First failures", failure_lines(event))]
    return Message(
        key=f"batch/{event.bid}",  # one incident per batch: its success resolves what its failures raised
        title=title(event),
        summary=f"{emoji(event)} {title(event)}",
        severity=severity(event),
        emoji=emoji(event),
        facts=tuple(counts(event)),
        listings=tuple(Listing(name, tuple(lines)) for name, lines in listings if lines),
        links=(Link(link_label(event), link),) if link else (),
        footer=() if link else (plain(f"bid {event.bid}"),),
        description=event.status.description or "",
        labels={"bid": event.bid, "event": event.event},
        document={**event.status.as_sent(), "event": event.event},
    )
