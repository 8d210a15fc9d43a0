"""Silence from Slack: the buttons alert messages carry, and what a click on one does.

Slack signs every interactivity request (``v0=`` HMAC-SHA256 of ``v0:TIMESTAMP:BODY`` with the
app's signing secret); the signature and the timestamp's age are checked before anything of the
request is read. A click stores silences (one per rule of the message, the Slack user as author)
under ids derived from the click itself, so a replayed request stores nothing new. Pure but for
the store it is given; the handler sends the message update.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..channels.message import Action
from ..channels.slack import ACTIONS_BLOCK_ID, actions_block
from ..errors import SidekiqWatchError
from ..finite_json import loads_finite
from .config import fnmatch_literal
from .persistence import AlertStore
from .silences import Silence

SILENCE_FOR = {"silence_1h": 3600, "silence_24h": 86400}
UNSILENCE = "unsilence"
NOTE_BLOCK_ID = "sidekiq-watch-silence-note"
MAX_SKEW_SECONDS = 300  # Slack's advice: older requests may be replays
MAX_BODY_BYTES = 256 * 1024
MAX_VALUE_CHARS = 2000  # Slack's limit for a button's value
RESPONSE_HOSTS = ("hooks.slack.com",)


class ClickOutcome(StrEnum):
    SILENCED = "silenced"
    UNSILENCED = "unsilenced"
    REFUSED = "refused: no valid signature, or too old"
    UNKNOWN_ACTION = "unknown action"
    BAD_REQUEST = "not a button click of ours"
    UNAVAILABLE = "silences cannot be stored now"


@dataclass(frozen=True)
class ClickReply:
    """What to answer Slack (``status``), and the message update to send its ``response_url``."""

    outcome: ClickOutcome
    status: int
    response_url: str | None = None
    update: Mapping[str, Any] | None = None
    silences: tuple[str, ...] = ()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + digest.hexdigest()


def verified(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    """Slack's signature over this exact body, made within the last five minutes."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    given = headers.get("x-slack-signature", "")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode())


def silence_buttons(target: str, rules: Sequence[str]) -> tuple[Action, ...]:
    """Silence 1h and 24h for these rules of this target (as many as the button's value can hold)."""
    chosen: list[str] = []
    for rule in dict.fromkeys(rules):
        if len(json.dumps({"t": target, "r": [*chosen, rule]})) > MAX_VALUE_CHARS:
            break
        chosen.append(rule)
    value = json.dumps({"t": target, "r": chosen})
    return (Action("silence_1h", "Silence 1h", value), Action("silence_24h", "Silence 24h", value))


def handle_click(
    body: bytes, headers: Mapping[str, str], secret: str, store: AlertStore, now: float
) -> ClickReply:
    """One click: verified first, then read, then the silences stored (or ended)."""
    if len(body) > MAX_BODY_BYTES or not verified(secret, headers, body, now):
        return ClickReply(ClickOutcome.REFUSED, 401)
    click = _click(body)
    if click is None:
        return ClickReply(ClickOutcome.BAD_REQUEST, 400)
    action, value, user, response_url, message, stamp = click
    try:
        if action in SILENCE_FOR:
            return _silence(action, value, user, response_url, message, stamp, store, now)
        if action == UNSILENCE:
            return _unsilence(value, user, response_url, message, store, now)
    except SidekiqWatchError:
        return ClickReply(ClickOutcome.UNAVAILABLE, 503)
    return ClickReply(ClickOutcome.UNKNOWN_ACTION, 400)


def _click(body: bytes) -> tuple[str, Any, str, str | None, Mapping[str, Any], str] | None:
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=5)
        payload = loads_finite(form["payload"][0])
    except (ValueError, KeyError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions, user = payload.get("actions"), payload.get("user")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        return None
    if not isinstance(user, dict):
        return None
    action = actions[0]
    try:
        value = json.loads(str(action.get("value", "")))
    except ValueError:
        value = None
    name = str(user.get("username") or user.get("name") or user.get("id") or "someone")[:64]
    given = payload.get("response_url")
    response_url = given if isinstance(given, str) and slack_response_url(given) else None
    found = payload.get("message")
    message: Mapping[str, Any] = found if isinstance(found, dict) else {}
    stamp = f"{action.get('action_ts', '')}|{user.get('id', '')}"
    return str(action.get("action_id", "")), value, f"@{name}", response_url, message, stamp


def slack_response_url(url: str) -> bool:
    """The update goes only to Slack's own response URLs (never wherever a request says)."""
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.hostname in RESPONSE_HOSTS and parts.port is None


def _silence(
    action: str,
    value: Any,
    user: str,
    response_url: str | None,
    message: Mapping[str, Any],
    stamp: str,
    store: AlertStore,
    now: float,
) -> ClickReply:
    if not isinstance(value, dict) or not isinstance(value.get("t"), str):
        return ClickReply(ClickOutcome.BAD_REQUEST, 400)
    rules = value.get("r")
    if not isinstance(rules, list) or not rules or not all(isinstance(r, str) for r in rules):
        return ClickReply(ClickOutcome.BAD_REQUEST, 400)
    seconds = SILENCE_FOR[action]
    ids = []
    for rule in rules[:50]:
        silence_id = hashlib.sha256(f"{stamp}|{value['t']}|{rule}".encode()).hexdigest()[:8]
        matchers = (("target", fnmatch_literal(value["t"])), ("rule", fnmatch_literal(rule)))
        store.save_silence(Silence(silence_id, matchers, now, now + seconds, user, "from Slack"))
        ids.append(silence_id)
    until = datetime.fromtimestamp(now + seconds, UTC).strftime("%H:%M UTC")
    label = "1h" if seconds == 3600 else "24h"
    note = f"🔕 Silenced for {label} by {user}, until {until}"
    button = Action(UNSILENCE, "Unsilence", json.dumps({"ids": ids}))
    update = _updated(message, note, (button,))
    return ClickReply(ClickOutcome.SILENCED, 200, response_url, update, tuple(ids))


def _unsilence(
    value: Any, user: str, response_url: str | None, message: Mapping[str, Any], store: AlertStore, now: float
) -> ClickReply:
    ids = value.get("ids") if isinstance(value, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return ClickReply(ClickOutcome.BAD_REQUEST, 400)
    stored = {silence.id: silence for silence in store.load_silences()}
    ended = []
    for silence_id in ids[:50]:
        silence = stored.get(silence_id)
        if silence is not None and silence.ends_at > now:
            store.save_silence(replace(silence, ends_at=now))
            ended.append(silence_id)
    update = _updated(message, f"🔔 Unsilenced by {user}", ())
    return ClickReply(ClickOutcome.UNSILENCED, 200, response_url, update, tuple(ended))


def _updated(message: Mapping[str, Any], note: str, buttons: tuple[Action, ...]) -> dict[str, Any]:
    """The clicked message again, its buttons replaced by what was done (and what can undo it)."""
    found = message.get("blocks")
    blocks: list[Any] = found if isinstance(found, list) else []
    ours = (ACTIONS_BLOCK_ID, NOTE_BLOCK_ID)
    kept = [b for b in blocks[:47] if isinstance(b, dict) and b.get("block_id") not in ours]
    kept.append(
        {"type": "context", "block_id": NOTE_BLOCK_ID, "elements": [{"type": "mrkdwn", "text": note}]}
    )
    if buttons:
        kept.append(actions_block(buttons))
    text = message.get("text") if isinstance(message.get("text"), str) else note
    return {"replace_original": True, "text": text, "blocks": kept}
