"""Stand-ins for PagerDuty's Events API v2 and Opsgenie's Alert API on 127.0.0.1: they check each
request against the documented shape and answer as the services do (202; 400 or 422 with the
errors; 429 when told to), and keep what they accepted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.support.servers import LocalServer, Received, Reply, json_reply, local_server

PD_SEVERITIES = {"critical", "error", "warning", "info"}
OPSGENIE_PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}


@dataclass
class Pager:
    server: LocalServer
    accepted: list[dict[str, Any]] = field(default_factory=list)
    throttle: int = 0  # answer this many requests 429 first

    @property
    def url(self) -> str:
        return self.server.url


def pagerduty_problems(event: Any) -> list[str]:
    """What the Events API v2 would refuse in an event (its documented required fields)."""
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    problems = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        problems.append("'routing_key' must be a 32 character integration key")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("'event_action' is invalid")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        problems.append("'dedup_key' is required for acknowledge and resolve")
    if len(str(event.get("dedup_key", ""))) > 255:
        problems.append("'dedup_key' must be at most 255 characters")
    if action == "trigger":
        payload = event.get("payload") or {}
        if not payload.get("summary") or len(payload["summary"]) > 1024:
            problems.append("'payload.summary' is missing or too long")
        if not payload.get("source"):
            problems.append("'payload.source' is missing")
        if payload.get("severity") not in PD_SEVERITIES:
            problems.append("'payload.severity' is invalid")
        for link in event.get("links", []):
            if not str(link.get("href", "")).startswith(("http://", "https://")):
                problems.append("'links' must be URLs")
    return problems


@contextmanager
def pagerduty() -> Iterator[Pager]:
    pager: Pager

    def answer(request: Received) -> Reply:
        if request.method != "POST" or request.path != "/v2/enqueue":
            return json_reply({"status": "not found"}, 404)
        if pager.throttle:
            pager.throttle -= 1
            return Reply(429, b"", {"Retry-After": "0"})
        event = request.json()
        problems = pagerduty_problems(event)
        if problems:
            return json_reply(
                {"status": "invalid event", "message": "Event object is invalid", "errors": problems}, 400
            )
        pager.accepted.append(event)
        key = event.get("dedup_key") or "generated"
        return json_reply({"status": "success", "message": "Event processed", "dedup_key": key}, 202)

    with local_server(answer) as server:
        pager = Pager(server)
        yield pager


@contextmanager
def opsgenie(api_key: str) -> Iterator[Pager]:
    pager: Pager

    def answer(request: Received) -> Reply:
        if request.headers.get("Authorization") != f"GenieKey {api_key}":
            return json_reply({"message": "Could not authenticate", "took": 0.0}, 401)
        if pager.throttle:
            pager.throttle -= 1
            return Reply(429, b"", {"Retry-After": "0"})
        parts = urlsplit(request.path)
        body = request.json()
        if parts.path == "/v2/alerts":
            problems = []
            if not body.get("message") or len(body["message"]) > 130:
                problems.append("Message can not be empty or longer than 130 characters")
            if len(body.get("alias", "")) > 512:
                problems.append("Alias can not be longer than 512 characters")
            if body.get("priority") not in OPSGENIE_PRIORITIES:
                problems.append("Priority should be one of [P1, P2, P3, P4, P5]")
            if not all(isinstance(v, str) for v in body.get("details", {}).values()):
                problems.append("Details values must be strings")
            if problems:
                return json_reply({"message": "Request body is not processable", "errors": problems}, 422)
            pager.accepted.append({"action": "create", **body})
        elif parts.path.startswith("/v2/alerts/") and parts.path.endswith("/close"):
            if parts.query != "identifierType=alias":
                return json_reply({"message": "identifierType must be alias here"}, 422)
            alias = unquote(parts.path[len("/v2/alerts/") : -len("/close")])
            pager.accepted.append({"action": "close", "alias": alias, **body})
        else:
            return json_reply({"message": "not found"}, 404)
        return json_reply({"result": "Request will be processed", "took": 0.01, "requestId": "r-1"}, 202)

    with local_server(answer) as server:
        pager = Pager(server)
        yield pager
