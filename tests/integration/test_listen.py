"""`sidekiq-watch listen` against a real Redis: counts, fan-out, a Redis restart, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidekiq_watch.batches.listen import BatchListener
from sidekiq_watch.batches.payload import BatchEvent
from tests.support.real_redis import RedisServer, redis_server
from tests.support.real_sidekiq import wait_until
from tests.support.servers import Received, Reply, local_server

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as running:
        yield running


def publish(server: RedisServer, channel: str, *signals: str) -> None:
    client = server.client()
    for signal_ in signals:
        client.publish(channel, signal_)  # type: ignore[attr-defined]


def test_complete_and_success_are_handed_on_and_a_restart_is_survived(server: RedisServer) -> None:
    events: list[BatchEvent] = []
    stop = threading.Event()
    listener = BatchListener(
        server.url, events.append, stop=stop, timeout=2, backoff_seconds=0.1, max_backoff_seconds=0.5
    )
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    try:
        wait_until(listener.subscribed.is_set, "the listener to subscribe")
        server.client().hset("b-abc123", mapping={"total": 3, "pending": 1, "description": "Import"})  # type: ignore[attr-defined]
        publish(server, "batch-abc123", "+", "+", "-", "!")
        wait_until(lambda: len(events) == 1, "the complete event")

        server.stop()
        wait_until(lambda: not listener.subscribed.is_set(), "the listener to notice Redis went away")
        server.start()
        wait_until(listener.subscribed.is_set, "the listener to subscribe again", timeout=30)
        publish(server, "batch-abc123", "+", "$")
        wait_until(lambda: len(events) == 2, "the success event after the restart")
    finally:
        stop.set()
        thread.join(timeout=10)
    complete, success = events
    assert (complete.bid, complete.event, complete.status.failures) == ("abc123", "complete", 1)
    assert (complete.status.total, complete.status.pending, complete.status.description) == (3, 1, "Import")
    assert (success.event, success.status.failures) == ("success", 1)  # progress kept across the restart
    assert listener.reconnects >= 1
    assert not thread.is_alive()


def test_namespaced_channels(server: RedisServer) -> None:
    events: list[BatchEvent] = []
    stop = threading.Event()
    listener = BatchListener(server.url, events.append, namespace="shop", stop=stop, timeout=2)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    try:
        wait_until(listener.subscribed.is_set, "the listener to subscribe")
        publish(server, "batch-other", "$")
        publish(server, "shop:batch-mine", "$")
        wait_until(lambda: len(events) == 1, "the namespaced event")
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert [e.bid for e in events] == ["mine"]


def test_the_command_delivers_through_the_configured_channels_and_stops_on_sigterm(
    server: RedisServer, tmp_path: Path
) -> None:
    received: list[Received] = []

    def hook(request: Received) -> Reply:
        received.append(request)
        return Reply(200, b"ok")

    with local_server(hook) as peer:
        config = tmp_path / "batches.yaml"
        config.write_text(f"channels:\n  ops:\n    type: webhook\n    url: {peer.url}/hook\n")
        env = {**os.environ, "BATCH_CONFIG": str(config), "XDG_STATE_HOME": str(tmp_path / "state")}
        process = subprocess.Popen(
            [sys.executable, "-m", "sidekiq_watch.cli", "listen", "--redis-url", server.url],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            client = server.client()
            wait_until(lambda: client.execute_command("PUBSUB", "NUMPAT") == 1, "the command to subscribe")  # type: ignore[attr-defined]
            publish(server, "batch-zz9", "-", "!")
            publish(server, "batch-zz9", "!")  # heard twice: delivered once
            wait_until(lambda: len(received) >= 1, "the webhook delivery")
            time.sleep(0.5)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert len(received) == 1
    assert received[0].json()["bid"] == "zz9"
    assert "batch zz9 complete (failures 1): ops delivered" in stderr
    assert "batch zz9 complete (failures 1): ops already_delivered" in stderr
    assert "stopped" in stderr
