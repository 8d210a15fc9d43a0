"""Figures counted since the previous poll (issue 25): `redis_evicted_keys` (growth of INFO stats'
evicted_keys) and `dead_added` (deaths by their time, which keep counting at the dead set's cap)."""

from __future__ import annotations

from typing import Any

from sidekiq_watch.alerts.config import WatchConfig, load_watch_config
from sidekiq_watch.alerts.history import Point, rates
from sidekiq_watch.alerts.persistence import AlertStore
from sidekiq_watch.alerts.rules import evaluate
from sidekiq_watch.poll import Watcher
from sidekiq_watch.settings import load_poller_settings
from sidekiq_watch.stats.snapshot import Snapshot
from tests.unit.test_watcher import MINUTE, Clock, Slack, target


def test_evictions_since_the_last_poll_are_the_counter_s_growth() -> None:
    previous = Point(0.0, {"redis_evicted_keys_total": 100.0})
    assert rates({"redis_evicted_keys_total": 130.0}, 60.0, previous)["redis_evicted_keys"] == 30.0
    # Redis restarted: its counter went back, everything it counts is new.
    assert rates({"redis_evicted_keys_total": 7.0}, 60.0, previous)["redis_evicted_keys"] == 7.0
    assert "redis_evicted_keys" not in rates({"redis_evicted_keys_total": 7.0}, 60.0, None)


def bundled() -> WatchConfig:
    return load_watch_config(load_poller_settings({"SIDEKIQ_STATS_URL": "https://a.example/stats"}))


def test_a_source_that_cannot_count_deaths_is_never_told_it_cannot_evaluate_them() -> None:
    [watch] = bundled().targets
    web_stats = {"retries": 0.0, "dead": 3.0, "processes": 1.0, "enqueued": 0.0}
    found = {f.rule.figure for f in evaluate(web_stats, watch.rules)}
    assert not found & {"dead_added", "redis_evicted_keys"}
    redis = {**web_stats, "live_processes": 1.0, "redis_evicted_keys_total": 0.0, "dead_added": 2.0}
    judged = {f.rule.figure: f.status for f in evaluate({**redis, "redis_evicted_keys": 0.0}, watch.rules)}
    assert (judged["dead_added"], judged["redis_evicted_keys"]) == ("firing", "ok")


class CountsDeaths:
    """A source that counts deaths since the time it is given, as the Redis source does."""

    location = "test redis"

    def __init__(self) -> None:
        self.asked: list[float | None] = []

    def read(self) -> Snapshot:
        return self.read_since(None)

    def read_since(self, previous: float | None) -> Snapshot:
        self.asked.append(previous)
        died = None if previous is None else 2
        return Snapshot("redis", processes=1, live_processes=1, retries=0, dead=10_000, dead_added=died)


def test_the_watcher_asks_for_deaths_since_its_previous_poll_and_alerts_on_them(store: AlertStore) -> None:
    source, slack, clock = CountsDeaths(), Slack(), Clock()
    config = WatchConfig((target("dead_added > 0"),), repeat_interval=3600, source_failures_before_alert=2)
    watcher = Watcher(config, store, source_for=lambda t: source, channel_for=lambda t: slack, clock=clock)
    first_poll = clock.now
    watcher.poll_all()
    assert slack.sent == []  # a first poll counts nothing
    clock.advance(5 * MINUTE)
    watcher.poll_all()
    assert source.asked == [None, first_poll]
    assert slack.texts == ["🚨 Sidekiq shop: FIRING: dead_added &gt; 0 (dead_added is 2)"]
    blocks: Any = slack.sent[0]["blocks"]
    assert blocks[1]["accessory"]["url"] == "https://shop.example.com/sidekiq/morgue"
