"""PollerFunction: invoked by the EventBridge schedule; polls Sidekiq and alerts Slack."""

from __future__ import annotations

from functools import cache
from typing import Any

import requests
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..http import new_session
from ..poll import PollReport, build_notifier, poll_once
from ..settings import Settings, load_settings
from ..stats.sources import make_source

logger = Logger(service="sidekiq-watch")
metrics = Metrics(namespace="Sidekiq", service="sidekiq-watch")
MAX_QUEUE_METRICS = 50


@cache
def current_settings() -> Settings:
    """Read once per container: a bad configuration fails the first invocation, loudly."""
    return load_settings()


@cache
def http_session() -> requests.Session:
    return new_session()


def publish_figures(report: PollReport) -> None:
    """Every figure as an EMF metric, dimensioned by source, so CloudWatch graphs them over time."""
    metrics.add_dimension(name="source", value=report.source)
    metrics.add_metric(name="SourceUp", unit=MetricUnit.Count, value=0 if report.source_error else 1)
    if report.snapshot is None:
        return
    for name, value in report.snapshot.figures().items():
        if ":" in name:
            continue
        unit = MetricUnit.Seconds if name.endswith("latency") else MetricUnit.Count
        metrics.add_metric(name=name, unit=unit, value=value)
    for queue, size in sorted((report.snapshot.queues or {}).items())[:MAX_QUEUE_METRICS]:
        with single_metric(
            name="queue_size",
            unit=MetricUnit.Count,
            value=size,
            namespace="Sidekiq",
            default_dimensions={"source": report.source},
        ) as metric:
            metric.add_dimension(name="queue", value=queue)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = current_settings()
    session = http_session()
    report = poll_once(settings, make_source(settings, session), build_notifier(settings, session))
    logger.info("Sidekiq stats read", extra=report.as_dict())
    publish_figures(report)
    return report.as_dict()
