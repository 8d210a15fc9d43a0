"""Chat rooms that take a text or card over HTTP: Campfire, HipChat-style room APIs, Microsoft Teams."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ..destinations import normal_host
from ..errors import ConfigError
from ..secrets import Secret
from .base import Options, Resources
from .message import Message, Severity, as_plain_text, plain_text_of

CAMPFIRE_OPTIONS = {"url", "subdomain", "room_id", "token"}
HIPCHAT_OPTIONS = {"server", "room_id", "token", "notify", "color"}
TEAMS_OPTIONS = {"webhook_url"}
# color: auto is green when all is well, red when anything needs a look.
AUTO_COLORS = {
    Severity.OK: "green",
    Severity.INFO: "green",
    Severity.WARNING: "red",
    Severity.CRITICAL: "red",
}


def _host(url: str) -> str:
    return urlsplit(url).hostname or "unknown host"


@dataclass(frozen=True)
class CampfireChannel:
    """Today's Campfire: a bot URL taking the message as a text body; or the classic 37signals speak API."""

    name: str
    url: Secret | None = None
    subdomain: str | None = None
    room_id: str | None = None
    token: Secret | None = None
    kind: str = "campfire"

    @classmethod
    def from_options(cls, name: str, options: Options) -> CampfireChannel:
        url = options.secret("url", url=True)
        if url is None:
            subdomain, room_id, token = (
                options.text("subdomain"),
                options.text("room_id"),
                options.secret("token"),
            )
            if not (subdomain and room_id and token):
                raise ConfigError(
                    f"{options.where}: give url (a Campfire bot URL), or subdomain, room_id and token"
                )
            if not room_id.isascii() or not room_id.isdigit():
                raise ConfigError(f"{options.where}.room_id: expected a room number such as 123456")
            if normal_host(f"{subdomain}.campfirenow.com") is None:
                raise ConfigError(
                    f"{options.where}.subdomain: expected your account's subdomain, a DNS label"
                )
            return cls(name, None, subdomain, room_id, token)
        return cls(name, url)

    def deliver(self, message: Message, resources: Resources) -> str:
        text = as_plain_text(message)
        if self.url is not None:
            url = self.url.reveal()
            reply = resources.post(
                url,
                location=f"Campfire bot ({_host(url)})",
                data=text.encode("utf-8"),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        else:
            assert self.token is not None
            room = quote(str(self.room_id), safe="")
            url = f"https://{self.subdomain}.campfirenow.com/room/{room}/speak.json"
            reply = resources.post(
                url,
                location=f"Campfire room {self.room_id} ({_host(url)})",
                json={"message": {"type": "TextMessage", "body": text}},
                auth=(self.token.reveal(), "X"),
            )
        return f"HTTP {reply.status}"


@dataclass(frozen=True)
class HipChatChannel:
    """HipChat's v2 room notification API, which self-hosted compatible servers still speak."""

    name: str
    server: str
    room_id: str
    token: Secret
    notify: bool = True
    color: str | None = None
    kind: str = "hipchat"

    @classmethod
    def from_options(cls, name: str, options: Options) -> HipChatChannel:
        server = options.text("server", default="https://api.hipchat.com") or ""
        if urlsplit(server).scheme not in ("http", "https") or not urlsplit(server).hostname:
            # Never the value: a server written with user info carries a password.
            raise ConfigError(
                f"{options.where}.server: expected an http(s):// URL such as https://api.hipchat.com"
            )
        if "@" in urlsplit(server).netloc:
            raise ConfigError(f"{options.where}.server: put no user info in the URL; the token authenticates")
        return cls(
            name,
            server.rstrip("/"),
            options.required_text("room_id"),
            options.required_secret("token"),
            options.flag("notify", True),
            options.choice("color", ("yellow", "green", "red", "purple", "gray", "auto"), "auto"),
        )

    def deliver(self, message: Message, resources: Resources) -> str:
        color = self.color if self.color != "auto" else AUTO_COLORS[message.severity]
        url = f"{self.server}/v2/room/{quote(self.room_id, safe='')}/notification"
        reply = resources.post(
            url,
            location=f"HipChat room {self.room_id} ({_host(url)})",
            json={
                "message": as_plain_text(message)[:10_000],
                "message_format": "text",
                "color": color,
                "notify": self.notify,
            },
            headers={"Authorization": f"Bearer {self.token.reveal()}"},
        )
        return f"HTTP {reply.status}"


@dataclass(frozen=True)
class TeamsChannel:
    """Microsoft Teams incoming webhook or Workflows URL, sent an Adaptive Card."""

    name: str
    webhook_url: Secret
    kind: str = "teams"

    @classmethod
    def from_options(cls, name: str, options: Options) -> TeamsChannel:
        return cls(name, options.required_secret("webhook_url", url=True))

    def deliver(self, message: Message, resources: Resources) -> str:
        url = self.webhook_url.reveal()
        reply = resources.post(
            url,
            location=f"Teams webhook ({_host(url)})",
            data=json.dumps(adaptive_card(message)),
            headers={"Content-Type": "application/json"},
        )
        return f"HTTP {reply.status}"


def adaptive_card(message: Message) -> dict[str, Any]:
    """Teams renders Adaptive Cards as text, never as markup: untrusted fields need no escaping here."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True, "text": message.title},
    ]
    if message.facts:
        body.append({"type": "FactSet", "facts": [{"title": n, "value": v} for n, v in message.facts]})
    body += [{"type": "TextBlock", "wrap": True, "text": plain_text_of(p.text)} for p in message.paragraphs]
    for listing in message.listings:
        body.append({"type": "TextBlock", "wrap": True, "text": f"{listing.title}:", "weight": "Bolder"})
        body += [
            {"type": "TextBlock", "wrap": True, "fontType": "Monospace", "text": line}
            for line in listing.lines
        ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    actions = [p.link for p in message.paragraphs if p.link] + list(message.links)
    if actions:
        card["actions"] = [{"type": "Action.OpenUrl", "title": a.label, "url": a.url} for a in actions[:5]]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
