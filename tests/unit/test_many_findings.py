"""A rule that matches thousands of figures (`queue:* > 3` over 6,000 queues) is decided and
announced in time linear in the findings, and a poll that runs out of time stops and says what is
left (issue 23, item 7). Before, 3,000 queues took 40 s and 6,000 ran past 400 s on the local store:
every claim and confirm rewrote the whole state file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sidekiq_watch.alerts.config import WatchConfig
from sidekiq_watch.alerts.persistence import AlertStore
from sidekiq_watch.alerts.persistence.local_file import LocalFileStore
from sidekiq_watch.poll import TargetOutcome, Watcher
from tests.unit.test_watcher import HOUR, Clock, Sidekiq, Slack, target

QUEUES = 6000
POLLER_TIMEOUT = 60.0


def many_queues() -> Sidekiq:
    return Sidekiq(queues={f"q{i:05d}": 10 for i in range(QUEUES)}, enqueued=10 * QUEUES)


def watcher(store: AlertStore, slack: Slack, clock: Clock) -> Watcher:
    config = WatchConfig((target("queue:* > 3"),), repeat_interval=HOUR, source_failures_before_alert=2)
    return Watcher(
        config, store, source_for=lambda t: many_queues(), notifier_for=lambda t: slack, clock=clock
    )


def test_thousands_of_findings_are_announced_once_within_the_pollers_timeout(tmp_path: Path) -> None:
    store, slack, clock = LocalFileStore(tmp_path / "state.json"), Slack(), Clock()
    started = time.monotonic()
    [report] = watcher(store, slack, clock).poll_all(lambda: started + POLLER_TIMEOUT - time.monotonic())
    assert time.monotonic() - started < POLLER_TIMEOUT
    assert report.outcome is TargetOutcome.DELIVERED
    assert len(report.announced.notices) == QUEUES
    assert len(slack.sent) == 1
    [again] = watcher(store, slack, clock).poll_all()
    assert again.announced.notices == ()  # stored: nothing is announced twice
    assert len(again.announced.already_announced) == QUEUES


@pytest.mark.parametrize("left", [0.0, -1.0])
def test_a_poll_out_of_time_claims_nothing_and_says_what_is_left(tmp_path: Path, left: float) -> None:
    store, slack, clock = LocalFileStore(tmp_path / "state.json"), Slack(), Clock()
    [report] = watcher(store, slack, clock).poll_all(lambda: left)
    assert report.outcome is TargetOutcome.NOT_FINISHED
    assert slack.sent == []
    assert "6001 notices" in report.delivery or f"{QUEUES} notices" in report.delivery
    [next_poll] = watcher(store, slack, clock).poll_all()  # nothing was claimed: all decided afresh
    assert len(next_poll.announced.notices) == QUEUES
