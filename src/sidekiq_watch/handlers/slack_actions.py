"""SlackActionsFunction: the Function URL Slack sends button clicks to (Silence 1h/24h, Unsilence)."""

from __future__ import annotations

import base64
import binascii
import json
import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..alerts.persistence import AlertStore
from ..alerts.slack_actions import ClickReply, handle_click
from ..channels import Resources
from ..errors import SidekiqWatchError
from ..http import RetryPolicy
from ..poll import open_store
from ..settings import PollerSettings, load_poller_settings

logger = Logger(service="sidekiq-watch")
# Slack wants an answer within 3 s: the message update gets what is left of that, once.
UPDATE_SECONDS = 1.5


@cache
def current_settings() -> PollerSettings:
    return load_poller_settings()


@cache
def state_store() -> AlertStore:
    return open_store(current_settings())


@cache
def resources() -> Resources:
    return Resources(timeout=UPDATE_SECONDS, policy=RetryPolicy(attempts=1))


def _body(event: dict[str, Any]) -> bytes | None:
    raw = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(raw).encode("utf-8")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    secret_ref = current_settings().slack_signing_secret
    if secret_ref is None:  # fail closed: without the secret no click can be trusted
        logger.error("SLACK_SIGNING_SECRET is not set: every click is refused")
        return {"statusCode": 503, "body": "not configured"}
    body = _body(event)
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    if body is None:
        return {"statusCode": 400, "body": ""}
    try:
        reply = handle_click(body, headers, secret_ref.reveal(), state_store(), time.time())
    except SidekiqWatchError as exc:
        logger.error("Click not handled", extra={"error": str(exc)})
        return {"statusCode": 503, "body": ""}
    logger.info("Slack click", extra={"outcome": reply.outcome.value, "silences": list(reply.silences)})
    send_update(reply)
    return {"statusCode": reply.status, "body": ""}


def send_update(reply: ClickReply) -> None:
    """The clicked message, updated through Slack's response_url: best effort, within Slack's 3 s."""
    if reply.update is None or reply.response_url is None:
        return
    shared = resources().for_request(deadline=time.monotonic() + UPDATE_SECONDS)
    try:
        shared.post(
            reply.response_url,
            location="Slack response_url (hooks.slack.com)",
            data=json.dumps(dict(reply.update)).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
    except SidekiqWatchError as exc:
        logger.warning("Message not updated", extra={"error": str(exc)})
