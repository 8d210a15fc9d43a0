"""One bad job must not silence the watchdog (issue 23, items 8 and 9): hostile payloads in a real
Redis (nested 5,000 deep, 2 MB, non-finite numbers, not JSON) at the head of a queue and among the
newest entries of the retry and dead sets. The retries and latency alerts are still posted exactly once, the
bad job is named, and figures no Sidekiq can have are a source error naming the figure."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidekiq_watch.alerts.config import WatchConfig
from sidekiq_watch.alerts.persistence.local_file import LocalFileStore
from sidekiq_watch.alerts.report import TargetOutcome
from sidekiq_watch.poll import Watcher
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.redis_source import RedisStatsSource
from tests.support.real_redis import RedisServer, redis_server
from tests.unit.test_watcher import HOUR, Clock, Sidekiq, Slack, target

pytestmark = pytest.mark.integration

DEEP = "[" * 5000 + "]" * 5000
HOSTILE = {
    "deep": DEEP,
    "deep-object": '{"a":' * 5000 + "1" + "}" * 5000,
    "huge": json.dumps({"class": "Big", "enqueued_at": 1.0, "args": ["x" * (2 * 1024 * 1024)]}),
    "minus-infinity": '{"class": "Inf", "enqueued_at": -1e999}',
    "nan": '{"class": "NaN", "enqueued_at": NaN}',
    "huge-int": '{"class": "Big", "enqueued_at": ' + "9" * 4000 + "}",
    "not-json": "\xff\xfe not json",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as running:
        yield running


def plant(r: Any, bad: str) -> None:
    """A Sidekiq whose retry set is over 50, whose `slow` queue is 10 minutes behind, and whose
    `poisoned` queue and retry set each hold one hostile payload."""
    now = time.time()
    for i in range(60):
        job = {"class": "HardJob", "jid": f"r{i}", "error_class": "Boom", "error_message": "no"}
        r.zadd("retry", {json.dumps(job): now + 60 + i})
    r.zadd("retry", {bad: now + 10_000})  # the newest entry: among the 200 read for "why"
    dead = {"class": "DeadJob", "jid": "d1", "error_class": "Gone", "error_message": "no"}
    r.zadd("dead", {json.dumps(dead): now - 60, bad: now})
    r.sadd("queues", "slow", "poisoned")
    r.rpush("queue:slow", json.dumps({"class": "SlowJob", "enqueued_at": now - 600}))
    r.rpush("queue:poisoned", bad)


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_payloads_never_stop_the_retries_and_latency_alerts(
    server: RedisServer, tmp_path: Path, payload: str, caplog: pytest.LogCaptureFixture
) -> None:
    plant(server.client(), HOSTILE[payload])
    source = RedisStatsSource(server.url, StatsAuth(), timeout=5)
    config = WatchConfig(
        (target("retries > 50", "dead > 1", "latency:* > 300"),),
        repeat_interval=HOUR,
        source_failures_before_alert=2,
    )
    slack, clock = Slack(), Clock()
    store = LocalFileStore(tmp_path / "state.json")
    watch = Watcher(config, store, source_for=lambda t: source, channel_for=lambda t: slack, clock=clock)
    with caplog.at_level(logging.WARNING, logger="sidekiq_watch"):
        [report] = watch.poll_all()
    assert report.outcome is TargetOutcome.DELIVERED, report.as_dict()
    announced = {rule for _, rule in report.announced.notices}
    assert announced == {"retries > 50", "dead > 1", "latency:* > 300 [latency:slow]"}
    assert len(slack.sent) == 1
    assert "HardJob" in json.dumps(slack.sent[0])  # why still read from the readable entries
    assert "DeadJob" in json.dumps(slack.sent[0])
    assert "poisoned" in caplog.text  # the bad job is named
    [again] = watch.poll_all()
    assert again.announced.notices == ()  # exactly once
    assert len(slack.sent) == 1
    json.dumps(report.as_dict(), allow_nan=False)  # nothing non-finite reaches the log record


@pytest.mark.parametrize(
    ("figures", "named"),
    [
        ({"retries": 10**4000}, "retries"),
        ({"retries": -5}, "retries"),
        ({"default_latency": float("inf")}, "default_latency"),
        ({"default_latency": float("nan")}, "default_latency"),
        ({"queues": {"a": 10**30}}, "queue:a"),
    ],
)
def test_figures_no_sidekiq_can_have_are_a_source_error_naming_them(
    tmp_path: Path, figures: dict[str, Any], named: str
) -> None:
    slack = Slack()
    config = WatchConfig((target("retries > 50"),), repeat_interval=HOUR, source_failures_before_alert=1)
    watch = Watcher(
        config,
        LocalFileStore(tmp_path / "state.json"),
        source_for=lambda t: Sidekiq(**figures),
        channel_for=lambda t: slack,
        clock=Clock(),
    )
    [report] = watch.poll_all()
    assert report.failure is None
    assert report.source_error is not None
    assert named in str(report.source_error)
    assert report.outcome is TargetOutcome.DELIVERED  # "cannot read the stats" is announced
    json.dumps(report.as_dict(), allow_nan=False)
