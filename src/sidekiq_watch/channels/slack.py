"""Slack: the incoming-webhook client, Block Kit helpers, and the channel that renders a Message.

Delivery semantics: 2xx posted; 4xx (but 429) is permanent, logged with Slack's error string
and not retried, since a retry cannot fix a bad request; 429 waits for Retry-After and 5xx or
network failures are retried a few times, then raised as transient so Lambda's retry takes over.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from ..http import RetryPolicy, new_session
from ..secrets import Secret
from .base import Options, Resources
from .message import Action, Message, Style, Text

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


def post_payload(
    resources: Resources, url: Secret, payload: Payload, overrides: dict[str, str], **kwargs: Any
) -> None:
    """POST Block Kit to an incoming webhook; the URL appears nowhere but the request line."""
    revealed = url.reveal()
    resources.post(
        revealed,
        location=f"Slack webhook ({urlsplit(revealed).hostname or 'unknown host'})",
        hint=_hint,
        data=json.dumps({**overrides, **payload}).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        **kwargs,
    )


class SlackWebhook:
    """A Slack incoming webhook on its own (tests and tools): a payload, posted as the channel posts it."""

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
        self.resources = Resources(
            timeout=timeout, session=session or new_session(), policy=policy, deadline=deadline
        )
        self.overrides = overrides or {}
        self.sleep = sleep

    def post(self, payload: Payload) -> None:
        post_payload(self.resources, self.url, payload, self.overrides, sleep=self.sleep)


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


def mrkdwn(text: Text) -> str:
    """Spans as Slack mrkdwn: every text escaped, so untrusted text never pings, mentions or links."""
    parts = []
    for span in text:
        if span.style is Style.BOLD:
            parts.append(f"*{escape_mrkdwn(span.text)}*")
        elif span.style is Style.CODE:
            parts.append(code(span.text))
        elif span.style is Style.LINK and span.url:
            parts.append(f"<{span.url}|{escape_mrkdwn(span.text)}>")
        else:
            parts.append(escape_mrkdwn(span.text))
    return "".join(parts)


# The block that holds our buttons: a click's update replaces it.
ACTIONS_BLOCK_ID = "sidekiq-watch-silence"


def actions_block(buttons: Sequence[Action]) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK_ID,
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": truncate(inert_plain(button.label), 75)},
                "action_id": button.id,
                "value": button.value[:2000],
            }
            for button in buttons
        ],
    }


def slack_payload(message: Message) -> Payload:
    """Block Kit: a header, the facts, each paragraph (with its page as a button), the listings, and
    a context line of links and footer."""
    blocks: list[dict[str, Any]] = [header(message.headline)]
    if message.facts:
        blocks.append(fields(list(message.facts)))
    for paragraph in message.paragraphs:
        block = section(mrkdwn(paragraph.text))
        if paragraph.link:
            block["accessory"] = {
                "type": "button",
                "text": {"type": "plain_text", "text": truncate(inert_plain(paragraph.link.label), 75)},
                "url": paragraph.link.url,
            }
        blocks.append(block)
    for listing in message.listings:
        blocks.append(
            section(
                f"*{escape_mrkdwn(listing.title)}*\n" + "\n".join(f"• {code(line)}" for line in listing.lines)
            )
        )
    if message.actions:
        blocks.append(actions_block(message.actions))
    footer = [f"<{item.url}|{escape_mrkdwn(item.label)}>" for item in message.links]
    if message.footer:
        footer.append(mrkdwn(message.footer))
    if footer:
        blocks.append(context(" · ".join(footer)))
    return {"text": escape_mrkdwn(truncate(message.summary, 3000)), "blocks": blocks}


@dataclass(frozen=True)
class SlackChannel:
    """A Slack incoming webhook, sent the message as Block Kit."""

    name: str
    webhook_url: Secret
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    kind: str = "slack"

    @classmethod
    def from_options(cls, name: str, options: Options) -> SlackChannel:
        return cls(
            name,
            options.required_secret("webhook_url", url=True),
            options.text("channel"),
            options.text("username"),
            options.text("icon_emoji"),
        )

    def deliver(self, message: Message, resources: Resources) -> str:
        overrides = message_overrides(self.channel, self.username, self.icon_emoji)
        post_payload(resources, self.webhook_url, slack_payload(message), overrides)
        return "posted"


SLACK_OPTIONS = {"webhook_url", "channel", "username", "icon_emoji"}
