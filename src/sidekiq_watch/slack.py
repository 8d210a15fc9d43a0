"""Slack incoming-webhook delivery and Block Kit helpers, shared by the poller and batch halves.

Delivery semantics: 2xx posted; 4xx (but 429) is permanent, logged with Slack's error string
and not retried, since a retry cannot fix a bad request; 429 waits for Retry-After and 5xx or
network failures are retried a few times, then raised as transient so Lambda's retry takes over.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import requests

from .http import RetryPolicy, deliver, new_session
from .secrets import Secret

SLACK_RETRY = RetryPolicy(attempts=3, backoff_seconds=1.0, max_retry_after_seconds=20.0)
Payload = dict[str, Any]

_MRKDWN_SPECIALS = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape_mrkdwn(text: str) -> str:
    """Untrusted text made inert: no ``<!channel>`` pings, ``<@U…>`` mentions or forged links."""
    return text.translate(_MRKDWN_SPECIALS)


def code(text: str) -> str:
    """Untrusted text in a code span: escaped, with backticks as look-alikes so it cannot close the
    span (and turn the rest into mrkdwn) early."""
    return "`" + escape_mrkdwn(text).replace("`", "\u02cb") + "`"  # modifier letter grave accent


def inert_plain(text: str) -> str:
    """Plain text (headers, button labels) is not parsed by Slack; angle brackets become look-alikes
    anyway, so untrusted text stays inert and readable even if a client did parse it."""
    return text.replace("<", "\u2039").replace(">", "\u203a")  # single angle quotation marks


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Notifier(Protocol):
    """Where a rendered message goes: Slack, or stdout in a dry run."""

    description: str

    def post(self, payload: Payload) -> None: ...


class PrintNotifier:
    """Dry run: the message is printed as JSON instead of posted."""

    description = "printed (dry run: SLACK_WEBHOOK_URL is not set)"

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self._lock = threading.Lock()  # targets are polled concurrently: keep messages whole

    def post(self, payload: Payload) -> None:
        out = self.stream or sys.stdout
        with self._lock:
            out.write("Slack message (dry run, SLACK_WEBHOOK_URL is not set):\n")
            out.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
            out.flush()


class SlackWebhook:
    """A Slack incoming webhook; the URL is a Secret and appears nowhere but the request line."""

    def __init__(
        self,
        url: Secret,
        *,
        timeout: float,
        session: requests.Session | None = None,
        policy: RetryPolicy = SLACK_RETRY,
        overrides: dict[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
        deadline: float | None = None,
    ) -> None:
        self.url = url
        self.deadline = deadline
        self.timeout = timeout
        self.session = session or new_session()
        self.policy = policy
        self.overrides = overrides or {}
        self.sleep = sleep
        self.description = "posted to Slack"

    def post(self, payload: Payload) -> None:
        url = self.url.reveal()
        location = f"Slack webhook ({urlsplit(url).hostname or 'unknown host'})"
        deliver(
            self.session,
            "POST",
            url,
            location=location,
            timeout=self.timeout,
            policy=self.policy,
            hint=_hint,
            sleep=self.sleep,
            deadline=self.deadline,
            data=json.dumps({**self.overrides, **payload}).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )


_HINTS = {
    "invalid_payload": "the message was malformed; please report it",
    "channel_not_found": "check SLACK_CHANNEL",
    "channel_is_archived": "the webhook's channel is archived; unarchive it or make a new webhook",
    "invalid_token": "the webhook was revoked; create a new one",
    "no_service": "the webhook was removed or disabled; create a new one",
    "no_service_id": "the webhook URL is incomplete",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
    "no_text": "the message had no text; please report it",
}


def _hint(slack_error: str | None) -> str:
    key = re.sub(r"[^a-z_]", "", (slack_error or "").lower())
    if key in _HINTS:  # Slack's own error word, shown: one of a known list, never the peer's free text
        return f"{key}: {_HINTS[key]}"
    return "see Slack's incoming-webhook error list"


def message_overrides(channel: str | None, username: str | None, icon_emoji: str | None) -> dict[str, str]:
    """Legacy webhook fields; app webhooks ignore them, so they are only sent when set."""
    found = {"channel": channel, "username": username, "icon_emoji": icon_emoji}
    return {key: value for key, value in found.items() if value}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}


def fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A section of label/value fields (Slack shows at most 10)."""
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": truncate(f"*{k}*\n{v}", 2000)} for k, v in pairs[:10]],
    }


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}


def header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(inert_plain(text), 150), "emoji": True},
    }
