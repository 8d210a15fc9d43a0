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
from sidekiq_watch.alerts.report import TargetOutcome
from sidekiq_watch.poll import Watcher
from tests.unit.test_watcher import HOUR, Clock, Sidekiq, Slack, target

QUEUES = 6000
POLLER_TIMEOUT = 60.0


def many_queues() -> Sidekiq:
    return Sidekiq(queues={f"q{i:05d}": 10 for i in range(QUEUES)}, enqueued=10 * QUEUES)


def watcher(store: AlertStore, slack: Slack, clock: Clock) -> Watcher:
    config = WatchConfig((target("queue:* > 3"),), repeat_interval=HOUR, source_failures_before_alert=2)
    return Watcher(
        config, store, source_for=lambda t: many_queues(), channel_for=lambda t: slack, clock=clock
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


class SlowStore:
    """A store whose writes take a millisecond a record, as DynamoDB's one put per record does."""

    def __init__(self, store: LocalFileStore) -> None:
        self.store = store
        self.description = store.description

    def load(self, target: str) -> object:
        return self.store.load(target)

    def save(self, record: object) -> None:
        self.save_all([record])

    def save_all(self, records: list[object]) -> None:
        time.sleep(0.001 * len(records))
        self.store.save_all(records)  # type: ignore[arg-type]

    def save_history(self, target: str, history: object) -> None:
        self.store.save_history(target, history)  # type: ignore[arg-type]


def test_claims_that_would_not_fit_in_the_time_left_are_left_whole_to_the_next_poll(tmp_path: Path) -> None:
    """6,000 claims at a millisecond each, and their confirms, do not fit in 4 s: part is announced,
    the rest left and said so; the next polls announce the rest, nothing twice."""
    store, slack, clock = SlowStore(LocalFileStore(tmp_path / "state.json")), Slack(), Clock()
    budget = 4.0
    started = time.monotonic()
    [first] = watcher(store, slack, clock).poll_all(lambda: started + budget - time.monotonic())  # type: ignore[arg-type]
    assert time.monotonic() - started < budget + 1.0
    announced = len(first.announced.notices)
    assert 0 < announced < QUEUES
    assert first.announced.left == QUEUES - announced
    assert f"{QUEUES - announced} notices left to the next poll" in first.delivery
    seen = {rule for _, rule in first.announced.notices}
    for _ in range(10):
        if len(seen) == QUEUES:
            break
        deadline = time.monotonic() + budget
        [later] = watcher(store, slack, clock).poll_all(lambda d=deadline: d - time.monotonic())  # type: ignore[arg-type]
        again = {rule for _, rule in later.announced.notices}
        assert not again & seen  # nothing announced twice
        seen |= again
    assert len(seen) == QUEUES
