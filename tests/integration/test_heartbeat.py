"""The dead man's switch (issue 26): one GET to heartbeat_url after every poll that completed,
whether or not anything fired; none when the poll could not finish; its failure never fails a poll."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sidekiq_watch.alerts.config import WatchConfig, load_watch_config
from sidekiq_watch.alerts.persistence.exceptions import StateStoreError
from sidekiq_watch.alerts.persistence.local_file import LocalFileStore
from sidekiq_watch.alerts.report import Heartbeat
from sidekiq_watch.poll import Watcher, run_poll
from sidekiq_watch.settings import load_poller_settings
from tests.support.servers import Reply, local_server
from tests.unit.test_watcher import Clock, Sidekiq, Slack

pytestmark = pytest.mark.integration
STATS = "https://shop.example.com/sidekiq/stats"


def config(heartbeat: str) -> WatchConfig:
    document = {"heartbeat_url": heartbeat, "targets": [{"name": "shop", "url": STATS}]}
    return load_watch_config(load_poller_settings({}), document, "test")


def watcher(watch: WatchConfig, tmp_path: Path, sidekiq: Sidekiq) -> Watcher:
    store = LocalFileStore(tmp_path / "state.json")
    return Watcher(watch, store, source_for=lambda t: sidekiq, channel_for=lambda t: Slack(), clock=Clock())


@pytest.mark.parametrize("retries", [0, 60], ids=["quiet", "firing"])
def test_every_completed_poll_beats_once(tmp_path: Path, retries: int) -> None:
    with local_server(lambda r: Reply(200, b"OK")) as checks:
        report = run_poll(
            watcher(config(f"{checks.url}/ping/s3cr3t-uuid"), tmp_path, Sidekiq(retries=retries))
        )
    assert report.heartbeat is Heartbeat.SENT
    assert [(r.method, r.path) for r in checks.received] == [("GET", "/ping/s3cr3t-uuid")]
    assert report.as_dict()["heartbeat"] == "sent"


def test_a_poll_that_could_not_finish_does_not_beat(tmp_path: Path) -> None:
    class Broken(LocalFileStore):
        def load(self, target: str):  # type: ignore[no-untyped-def]
            raise StateStoreError("state file unreadable")

    with local_server(lambda r: Reply(200, b"OK")) as checks:
        watch = watcher(config(f"{checks.url}/ping"), tmp_path, Sidekiq(retries=0))
        watch.store = Broken(tmp_path / "state.json")
        report = run_poll(watch)
    assert report.heartbeat is Heartbeat.HELD_BACK
    assert checks.received == []


def test_a_failing_heartbeat_is_logged_and_never_fails_the_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        local_server(lambda r: Reply(503, b"down")) as checks,
        caplog.at_level(logging.WARNING, "sidekiq_watch"),
    ):
        report = run_poll(watcher(config(f"{checks.url}/ping/s3cr3t-uuid"), tmp_path, Sidekiq(retries=0)))
    assert report.heartbeat is Heartbeat.FAILED
    assert report.invocation_error() is None
    assert "Heartbeat not sent" in caplog.text
    assert "s3cr3t-uuid" not in caplog.text
    assert len(checks.received) == 2  # retried once, within the poll's time


def test_a_heartbeat_url_is_a_url_or_a_reference() -> None:
    from sidekiq_watch.errors import ConfigError

    with pytest.raises(ConfigError, match=r"heartbeat_url: expected https://…, ssm:/… or secretsmanager:…"):
        config("hc-ping.com/uuid")
