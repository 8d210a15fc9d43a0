"""Batch fan-out to real local HTTP peers: slow ones overlap, a failing one is retried alone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.fanout import fan_out
from sidekiq_watch.channels import Resources
from tests.support.servers import Received, Reply, local_server
from tests.unit.batches.helpers import sample_event

pytestmark = pytest.mark.integration


def test_slow_channels_are_delivered_at_the_same_time(tmp_path: Path) -> None:
    intervals: dict[str, tuple[float, float]] = {}
    lock = threading.Lock()

    def slow(request: Received) -> Reply:
        start = time.monotonic()
        time.sleep(0.3)
        with lock:
            intervals[request.path] = (start, time.monotonic())
        return Reply(204, b"")

    with local_server(slow) as server:
        channels = {f"hook{i}": {"type": "webhook", "url": f"{server.url}/hook{i}"} for i in range(5)}
        [route] = parse_batch_config({"channels": channels}, "test").routes
        log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
        outcomes = fan_out(sample_event(), route.channels, Resources(timeout=5), log)
    assert [o.status for o in outcomes] == ["delivered"] * 5
    assert max(start for start, _ in intervals.values()) < min(end for _, end in intervals.values())


def test_a_failing_peer_is_retried_alone_on_redelivery(tmp_path: Path, no_sleep: list[float]) -> None:
    failing = [True]

    def peer(request: Received) -> Reply:
        if request.path == "/flaky" and failing[0]:
            return Reply(503, b"busy")
        return Reply(200, b"ok")

    with local_server(peer) as server:
        channels = {
            "steady": {"type": "webhook", "url": f"{server.url}/steady"},
            "flaky": {"type": "webhook", "url": f"{server.url}/flaky"},
        }
        [route] = parse_batch_config({"channels": channels}, "test").routes
        log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
        first = fan_out(sample_event(), route.channels, Resources(timeout=5), log)
        failing[0] = False
        second = fan_out(sample_event(), route.channels, Resources(timeout=5), log)
        paths = [r.path for r in server.received]
    assert [o.status for o in first] == ["delivered", "failed"]
    assert [o.status for o in second] == ["already_delivered", "delivered"]
    assert paths.count("/steady") == 1
    assert paths.count("/flaky") == 4  # three bounded attempts, then one on redelivery
