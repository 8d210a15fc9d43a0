"""Fan-out: concurrent, independent, exactly once per (bid, event, channel)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.fanout import fan_out
from sidekiq_watch.channels import Resources
from sidekiq_watch.channels.message import Message
from sidekiq_watch.errors import DeliveryError
from tests.support.aws import create_delivery_table
from tests.unit.batches.helpers import sample_event


@dataclass
class FakeChannel:
    name: str
    kind: str = "fake"
    failures: list[DeliveryError] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    def deliver(self, message: Message, resources: Resources) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(f"{message.labels['bid']}/{message.labels['event']}")
        return "ok"


@pytest.fixture(params=["file", "dynamodb"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryLog]:
    if request.param == "file":
        yield DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
    else:
        request.getfixturevalue("aws")
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        table = create_delivery_table()
        yield DeliveryLog(lambda: DynamoDBPersistenceLayer(table_name=table))


EVENT = sample_event()
RESOURCES = Resources(timeout=1)


def test_each_channel_gets_it_once(log: DeliveryLog) -> None:
    a, b = FakeChannel("a"), FakeChannel("b")
    outcomes = fan_out(EVENT, (a, b), RESOURCES, log)
    assert [(o.channel, o.status) for o in outcomes] == [("a", "delivered"), ("b", "delivered")]
    assert a.sent == b.sent == ["a8b2c1d4e5f60718/complete"]


def test_a_resent_webhook_delivers_nothing_again(log: DeliveryLog) -> None:
    a = FakeChannel("a")
    fan_out(EVENT, (a,), RESOURCES, log)
    [again] = fan_out(EVENT, (a,), RESOURCES, log)
    assert again.status == "already_delivered"
    assert a.sent == ["a8b2c1d4e5f60718/complete"]


def test_the_success_event_of_the_same_batch_is_delivered_separately(log: DeliveryLog) -> None:
    a = FakeChannel("a")
    fan_out(EVENT, (a,), RESOURCES, log)
    fan_out(sample_event("batch-success-after-retries.json", "success"), (a,), RESOURCES, log)
    assert a.sent == ["a8b2c1d4e5f60718/complete", "a8b2c1d4e5f60718/success"]


def test_partial_failure_then_retry_delivers_only_the_failed_channel(log: DeliveryLog) -> None:
    good = FakeChannel("good")
    flaky = FakeChannel("flaky", failures=[DeliveryError("flaky", "HTTP 503", permanent=False, status=503)])
    first = fan_out(EVENT, (good, flaky), RESOURCES, log)
    assert [o.status for o in first] == ["delivered", "failed"]
    second = fan_out(EVENT, (good, flaky), RESOURCES, log)
    assert [o.status for o in second] == ["already_delivered", "delivered"]
    assert good.sent == flaky.sent == ["a8b2c1d4e5f60718/complete"]


def test_channels_are_delivered_concurrently(tmp_path: Path) -> None:
    intervals: list[tuple[float, float]] = []

    @dataclass
    class SlowChannel:
        name: str
        kind: str = "slow"

        def deliver(self, message: Message, resources: Resources) -> str:
            start = time.monotonic()
            time.sleep(0.2)
            intervals.append((start, time.monotonic()))
            return "ok"

    log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "d.json"))
    fan_out(EVENT, tuple(SlowChannel(f"c{i}") for i in range(4)), RESOURCES, log)
    latest_start = max(start for start, _ in intervals)
    earliest_end = min(end for _, end in intervals)
    assert latest_start < earliest_end  # all four were under way at once


def test_a_concurrent_duplicate_finds_the_delivery_in_progress(log: DeliveryLog) -> None:
    entered, release = threading.Event(), threading.Event()

    @dataclass
    class BlockingChannel:
        name: str = "slow"
        kind: str = "blocking"
        calls: int = 0

        def deliver(self, message: Message, resources: Resources) -> str:
            self.calls += 1
            entered.set()
            release.wait(5)
            return "ok"

    channel = BlockingChannel()
    first: list[object] = []
    thread = threading.Thread(target=lambda: first.extend(fan_out(EVENT, (channel,), RESOURCES, log)))
    thread.start()
    entered.wait(5)
    [duplicate] = fan_out(EVENT, (channel,), RESOURCES, log)
    release.set()
    thread.join(5)
    assert duplicate.status == "in_progress"
    assert channel.calls == 1
