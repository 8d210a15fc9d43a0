"""A many-target poll reads every target's state at once and writes the histories in batches: the
DynamoDB requests per target were most of a target's CPU at Lambda's share (issue 28)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from sidekiq_watch.alerts.history import History, Point
from sidekiq_watch.alerts.persistence import AlertStore
from sidekiq_watch.alerts.persistence.dynamodb import DynamoDBStore
from sidekiq_watch.alerts.persistence.exceptions import StateStoreError
from tests.support.aws import create_state_table
from tests.unit.test_watcher import Clock, Sidekiq, Slack, target, watcher


@pytest.fixture
def clock() -> Clock:
    return Clock()


def counted(store: DynamoDBStore) -> Counter[str]:
    """The store's DynamoDB requests, by operation."""
    calls: Counter[str] = Counter()
    client = store.client
    for operation in ("query", "scan", "put_item", "batch_write_item", "get_item"):
        real = getattr(client, operation)

        def count(*args: Any, _real: Any = real, _name: str = operation, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _real(*args, **kwargs)

        setattr(client, operation, count)
    return calls


def test_sixty_targets_are_read_in_one_scan_and_their_histories_written_in_three_batches(aws: None) -> None:
    store = DynamoDBStore(create_state_table())
    targets = [target(name=f"app-{i}") for i in range(60)]
    w = watcher(store, Sidekiq(retries=1), Slack(), Clock(), *targets)
    w.poll_all()  # the first poll: every target's records are made
    calls = counted(store)
    reports = w.poll_all()
    assert [r.failure for r in reports] == [None] * 60
    assert calls["scan"] == 1
    assert calls["batch_write_item"] == 3  # 25 a request
    assert calls["query"] == 1  # the silences, once a poll
    assert calls["put_item"] == 0


def test_a_many_target_poll_keeps_each_targets_history(store: AlertStore, clock: Clock) -> None:
    targets = [target(name=f"app-{i}") for i in range(30)]
    sidekiq = Sidekiq(retries=1)
    w = watcher(store, sidekiq, Slack(), clock, *targets)
    w.poll_all()
    clock.advance(300)
    sidekiq.figures["retries"] = 7
    w.poll_all()
    for i in (0, 29):
        points = store.load(f"app-{i}").history.points
        assert [p.figures["retries"] for p in points] == [1, 7]


def test_a_many_target_poll_alerts_from_the_state_it_read_at_once(store: AlertStore, clock: Clock) -> None:
    targets = [target(name=f"app-{i}") for i in range(3)]
    sidekiq, slack = Sidekiq(retries=99), Slack()
    w = watcher(store, sidekiq, slack, clock, *targets)
    w.poll_all()
    w.poll_all()  # still firing, inside the repeat interval: the state read at once says so
    assert len(slack.sent) == 3
    assert all(store.load(f"app-{i}").records["retries > 50"].status == "firing" for i in range(3))


def test_load_many_gives_every_target_even_one_never_seen(store: AlertStore) -> None:
    store.save_histories({"a": History((Point(1.0, {"retries": 2}),))})
    states = store.load_many(["a", "never"])
    assert [p.figures for p in states["a"].history.points] == [{"retries": 2}]
    assert states["never"].records == {}
    assert states["never"].history.points == ()


def test_histories_dynamodb_leaves_unprocessed_are_sent_again(aws: None) -> None:
    store = DynamoDBStore(create_state_table())
    client = store.client
    real = client.batch_write_item
    sent: list[int] = []

    def first_left_over(**kwargs: Any) -> Any:
        items = kwargs["RequestItems"][store.table_name]
        sent.append(len(items))
        if len(sent) == 1:  # DynamoDB throttled the last two of the first request
            real(RequestItems={store.table_name: items[:-2]})
            return {"UnprocessedItems": {store.table_name: items[-2:]}}
        return real(**kwargs)

    client.batch_write_item = first_left_over
    store.save_histories({f"t{i}": History((Point(1.0, {"retries": i}),)) for i in range(5)})
    assert sent == [5, 2]
    assert store.load("t4").history.points[0].figures == {"retries": 4}


def test_histories_still_unprocessed_fail_the_poll_of_those_targets(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DynamoDBStore(create_state_table())
    monkeypatch.setattr("sidekiq_watch.alerts.persistence.dynamodb.time.sleep", lambda seconds: None)
    client = store.client
    client.batch_write_item = lambda **kwargs: {"UnprocessedItems": kwargs["RequestItems"]}
    targets = [target(name=f"app-{i}") for i in range(2)]
    reports = watcher(store, Sidekiq(retries=1), Slack(), Clock(), *targets).poll_all()
    assert all(isinstance(r.failure, StateStoreError) for r in reports)
    assert "histories left unprocessed" in str(reports[0].failure)


def test_unreadable_state_fails_every_target_of_a_many_target_poll_after_reading_figures(
    aws: None,
) -> None:
    store = DynamoDBStore(create_state_table())

    def refuse(**kwargs: Any) -> Any:
        raise client.exceptions.ResourceNotFoundException(
            {"Error": {"Code": "ResourceNotFoundException"}}, "Scan"
        )

    client = store.client
    client.scan = refuse
    targets = [target(name=f"app-{i}") for i in range(2)]
    slack = Slack()
    reports = watcher(store, Sidekiq(retries=99), slack, Clock(), *targets).poll_all()
    assert all(isinstance(r.failure, StateStoreError) for r in reports)
    assert all(r.snapshot is not None for r in reports)  # the figures are still reported
    assert "ResourceNotFoundException" in str(reports[0].failure)
    assert slack.sent == []
