"""PollerFunction: invoked by the EventBridge schedule; polls every target and alerts Slack."""

from __future__ import annotations

import time
import warnings
from functools import cache
from typing import Any

import requests
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..alerts.config import current_watch_config
from ..alerts.persistence import AlertStore
from ..alerts.report import TargetReport
from ..errors import SidekiqWatchError
from ..http import new_session
from ..poll import build_watcher, open_store, run_poll
from ..settings import MetricsDetail, PollerSettings, load_poller_settings
from . import prepare_at_init

# Most invocations publish no metric at all (see publish_figures): that is not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")
logger = Logger(service="sidekiq-watch")
metrics = Metrics(namespace="Sidekiq", service="sidekiq-watch")
MAX_QUEUE_METRICS = 50
# Seconds kept back from the Lambda timeout to log, publish metrics and return.
RESERVE_SECONDS = 5.0


@cache
def current_settings() -> PollerSettings:
    """Read once per container: a bad configuration fails the first invocation, loudly."""
    return load_poller_settings()


@cache
def http_session() -> requests.Session:
    return new_session()


@cache
def state_store() -> AlertStore:
    return open_store(current_settings(), connect=True)


def prepare() -> None:
    """What every invocation of this configuration needs, made at init: Lambda runs init on an
    unthrottled CPU, the handler on its memory's share (docs/performance.md measures both). Only
    what the settings name is made (no boto3 without STATE_TABLE); a bad configuration is left for
    the first invocation to raise and count. The watch document is read again by each poll, and
    parsed again only if it changed."""
    settings = current_settings()
    http_session()
    state_store()
    current_watch_config(settings)  # the document read, parsed and validated, its modules imported


prepare_at_init(prepare)


def publish_figures(report: TargetReport, detail: MetricsDetail) -> None:
    """Figures as EMF metrics, dimensioned by target, only when PUBLISH_METRICS asks: each is a custom
    metric at $0.30 a month, and every figure is in the poll's log record anyway."""
    if detail == "none" or (report.snapshot is None and report.source_error is None):
        return  # not asked for; or the source was never read: neither up nor down, and no figures
    figures = EphemeralMetrics(namespace="Sidekiq")
    figures.add_dimension(name="source", value=report.target)
    figures.add_metric(name="SourceUp", unit=MetricUnit.Count, value=0 if report.source_error else 1)
    if report.snapshot is not None:
        for name, value in report.snapshot.figures().items():
            if ":" not in name:
                unit = MetricUnit.Seconds if name.endswith("latency") else MetricUnit.Count
                figures.add_metric(name=name, unit=unit, value=value)
    figures.flush_metrics()
    queues = (report.snapshot.queues or {}) if report.snapshot and detail == "queues" else {}
    for queue, size in sorted(queues.items())[:MAX_QUEUE_METRICS]:
        with single_metric(
            name="queue_size",
            unit=MetricUnit.Count,
            value=size,
            namespace="Sidekiq",
            default_dimensions={"source": report.target},
        ) as metric:
            metric.add_dimension(name="queue", value=queue)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def remaining() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    try:
        settings = current_settings()
    except SidekiqWatchError:
        # Counted, so a dashboard shows why nothing was polled (and Powertools has a metric to flush).
        metrics.add_metric(name="ConfigurationErrors", unit=MetricUnit.Count, value=1)
        raise
    watcher = build_watcher(
        settings,
        session=http_session(),
        store=state_store(),
        lease_seconds=remaining() + 60,
        deadline=time.monotonic() + remaining() - RESERVE_SECONDS,
    )
    report = run_poll(watcher, time_left=lambda: remaining() - RESERVE_SECONDS)
    for target in report.targets:
        logger.info("Sidekiq polled", extra=target.as_dict())
        publish_figures(target, watcher.config.publish_metrics)
    failures = sum(1 for target in report.targets if target.failure is not None)
    if failures:  # published only when there are some: a metric that is never sent costs nothing
        metrics.add_metric(name="PollFailures", unit=MetricUnit.Count, value=failures)
    error = report.invocation_error()
    if error is not None:
        # Fail the invocation so errors alarm; the alert state keeps Lambda's retry from re-posting.
        raise error
    return report.as_dict()
