"""SlackActionsFunction: the Function URL Slack sends button clicks to (Silence 1h/24h, Unsilence).

Slack wants an answer within 3 seconds, so a click is answered as soon as its silences are stored;
the message update is handed to an asynchronous invocation of this same function, which posts it
to Slack's response_url (valid for 30 minutes). If the hand-off fails, or outside Lambda, the
update is posted before answering, within what is left of the 3 seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..alerts.persistence import AlertStore
from ..alerts.slack_actions import ClickReply, handle_click, slack_response_url
from ..channels import Resources
from ..errors import SidekiqWatchError
from ..http import RetryPolicy
from ..poll import open_store
from ..settings import PollerSettings, load_poller_settings
from . import prepare_at_init

logger = Logger(service="sidekiq-watch")
# Slack's 3 s, less a margin for the answer's own way back.
ANSWER_WITHIN_SECONDS = 2.5
# The asynchronous update has its own invocation (Timeout 10 s): time for one retry.
LATER_SECONDS = 6.0
# The key of the event this function sends itself; a Function URL's event never has it alone.
UPDATE_EVENT = "sidekiq_watch_message_update"


@cache
def current_settings() -> PollerSettings:
    return load_poller_settings()


@cache
def state_store() -> AlertStore:
    return open_store(current_settings(), connect=True)


@cache
def resources() -> Resources:
    return Resources(timeout=ANSWER_WITHIN_SECONDS, policy=RetryPolicy(attempts=2))


@cache
def lambda_client() -> Any:
    """For the hand-off: one attempt with short deadlines, so a failure leaves time to update inline."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=0.5, read_timeout=1.0, retries={"total_max_attempts": 1})
    return boto3.client("lambda", config=config)


def in_lambda() -> bool:
    """Lambda's (and sam local's) runtime API: only there is there a function to hand off to."""
    return bool(os.environ.get("AWS_LAMBDA_RUNTIME_API"))


def prepare() -> None:
    """At init, where the CPU is unthrottled: the settings, the store's client, Lambda's client."""
    if current_settings().slack_signing_secret is not None:
        state_store()
        if in_lambda():
            lambda_client()


prepare_at_init(prepare)


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
    started = time.monotonic()
    if UPDATE_EVENT in event and "requestContext" not in event:
        return update_later(event[UPDATE_EVENT])
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
    if reply.update is not None and reply.response_url is not None and not hand_off(reply, context):
        send_update(reply.response_url, reply.update, deadline=started + ANSWER_WITHIN_SECONDS)
    return {"statusCode": reply.status, "body": ""}


def hand_off(reply: ClickReply, context: LambdaContext) -> bool:
    """The update, to this function's own asynchronous invocation; False if it could not be queued."""
    if not in_lambda():
        return False
    event = {UPDATE_EVENT: {"response_url": reply.response_url, "update": dict(reply.update or {})}}
    try:
        lambda_client().invoke(
            FunctionName=context.invoked_function_arn,
            InvocationType="Event",
            Payload=json.dumps(event).encode("utf-8"),
        )
    except Exception as exc:  # any failure: the update is sent before answering instead
        logger.warning("Message update not handed off; sending it now", extra={"error": type(exc).__name__})
        return False
    return True


def update_later(data: Any) -> dict[str, Any]:
    """The second half: the update a click's invocation handed off. Checked again, as any input."""
    url = data.get("response_url") if isinstance(data, Mapping) else None
    update = data.get("update") if isinstance(data, Mapping) else None
    if not isinstance(url, str) or not slack_response_url(url) or not isinstance(update, Mapping):
        logger.error("A message update without a Slack response_url: not sent")
        return {"sent": False}
    return {"sent": send_update(url, update, deadline=time.monotonic() + LATER_SECONDS)}


def send_update(response_url: str, update: Mapping[str, Any], *, deadline: float) -> bool:
    """The clicked message, updated through Slack's response_url: best effort, never raised."""
    shared = resources().for_request(deadline=deadline)
    try:
        shared.post(
            response_url,
            location="Slack response_url (hooks.slack.com)",
            data=json.dumps(dict(update)).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
    except SidekiqWatchError as exc:
        logger.warning("Message not updated", extra={"error": str(exc)})
        return False
    return True
