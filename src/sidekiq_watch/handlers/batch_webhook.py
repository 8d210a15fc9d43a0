"""BatchNotificationsFunction: a Lambda Function URL (or API Gateway HTTP API) receiving batch callbacks."""

from __future__ import annotations

import base64
import binascii
import time
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..batches.config import BatchConfig, load_batch_config
from ..batches.delivery_log import DeliveryLog, persistence_for
from ..batches.intake import IncomingRequest, Reply, receive, unavailable
from ..channels import Resources
from ..errors import ConfigError
from ..settings import BatchSettings, default_state_file, load_batch_settings
from . import prepare_at_init

# Most requests publish no metric (only failed deliveries are counted): not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")
logger = Logger(service="sidekiq-watch")
metrics = Metrics(namespace="Sidekiq", service="sidekiq-watch")
app = LambdaFunctionUrlResolver()
PATHS = ("/", "/batches")
# Seconds kept back from the Lambda timeout to record outcomes and answer (a 502 the sender retries).
RESERVE_SECONDS = 3.0


@cache
def current_settings() -> BatchSettings:
    return load_batch_settings()


@cache
def resources() -> Resources:
    settings = current_settings()
    if settings.auth_disabled:
        logger.warning("BATCH_AUTH=none: the batch webhook accepts requests without credentials")
    return Resources(timeout=settings.http_timeout_seconds, web_url=settings.sidekiq_web_url)


def batch_config() -> BatchConfig:
    return load_batch_config(current_settings().batch_config_reference)


@cache
def persistence() -> Callable[[], BasePersistenceLayer]:
    settings = current_settings()
    return persistence_for(settings.delivery_table, default_state_file().with_name("deliveries.json"))


def prepare() -> None:
    """At init, where Lambda's CPU is unthrottled: the settings, the shared HTTP resources, the
    delivery records' DynamoDB client and a first read of the channel configuration (its parser
    imported, its SSM parameter cached). Problems are left for the first request to answer."""
    current_settings()
    resources()
    persistence()
    batch_config()


def _respond(reply: Reply) -> Response[Any]:
    return Response(
        status_code=reply.status, content_type="application/json", body=reply.body, headers=reply.headers
    )


def _body_bytes(body: str | None, base64_encoded: bool) -> bytes | None:
    """The raw body; None when it claims base64 and is not (Powertools' decoded_body would raise)."""
    if not base64_encoded:
        return (body or "").encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(body or "", validate=True)
    except (binascii.Error, ValueError):
        return None


def _receive() -> Response[Any]:
    event = app.current_event
    body = _body_bytes(event.body, bool(event.is_base64_encoded))
    if body is None:
        return _respond(Reply(400, {"error": "body is marked base64 but is not valid base64"}))
    request = IncomingRequest(
        headers=dict(event.headers or {}),
        body=body,
        query=dict(event.query_string_parameters or {}),
    )
    try:
        settings = current_settings()
    except ConfigError as exc:
        reply = unavailable("the function's settings are invalid; see its log", str(exc))
    else:
        log = DeliveryLog(persistence(), app.lambda_context)
        remaining = app.lambda_context.get_remaining_time_in_millis() / 1000
        shared = resources().for_request(deadline=time.monotonic() + remaining - RESERVE_SECONDS)
        reply = receive(settings.admission, request, batch_config, shared, log)
    if reply.problem:
        logger.error(reply.problem, extra={"status": reply.status})
    failed = sum(1 for delivery in reply.body.get("deliveries", []) if delivery["status"] == "failed")
    if failed:  # the one metric (BatchUndeliveredAlarm's); outcomes are in the log record below
        metrics.add_metric(name="BatchFailed", unit=MetricUnit.Count, value=failed)
    logger.info("Batch notification", extra=reply.log_details)
    return _respond(reply)


for _path in PATHS:
    app.post(_path)(_receive)
    app.route(_path, method=["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])(
        lambda: _respond(Reply(405, {"error": "use POST"}, {"Allow": "POST"}))
    )


@app.not_found
def _not_found(exc: Exception) -> Response[Any]:
    return _respond(Reply(404, {"error": f"no such path; POST batch notifications to {' or '.join(PATHS)}"}))


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(exc: Exception) -> Response[Any]:
    """Never a stack trace in the body: log it, answer 500 in words."""
    logger.exception("Unexpected error handling a batch notification")
    return _respond(Reply(500, {"error": "internal error; see the function's logs"}))


prepare_at_init(prepare)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
