"""The poller against a real Sidekiq 6 (Debian's ruby-sidekiq) and Redis: the truth about formats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidekiq_watch.cli import EXIT_ALERT, EXIT_OK, main
from sidekiq_watch.stats.sources import HttpStatsSource
from sidekiq_watch.settings import StatsAuth
from tests.support.real_sidekiq import RealSidekiq, real_sidekiq
from tests.support.servers import LocalServer, Reply, local_server

pytestmark = [pytest.mark.integration, pytest.mark.sidekiq]


@pytest.fixture(scope="module")
def sidekiq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealSidekiq]:
    with real_sidekiq(tmp_path_factory.mktemp("sidekiq")) as running:
        yield running


@pytest.fixture
def slack() -> Iterator[LocalServer]:
    with local_server(lambda r: Reply()) as receiver:
        yield receiver


def poll(sidekiq: RealSidekiq, path: str, slack: LocalServer) -> int:
    return main(
        [
            "poll",
            "--stats-url",
            f"{sidekiq.url}{path}",
            "--source-name",
            "real",
            "--webhook-url",
            f"{slack.url}/hook",
        ]
    )


def test_sidekiq_web_stats_parse_into_every_figure(sidekiq: RealSidekiq) -> None:
    snapshot = HttpStatsSource(f"{sidekiq.url}/sidekiq/stats", StatsAuth(), timeout=5).read()
    assert snapshot.shape == "sidekiq_web_stats"
    assert snapshot.processes == 1
    assert set(snapshot.figures()) >= {
        "processed",
        "failed",
        "busy",
        "processes",
        "enqueued",
        "scheduled",
        "retries",
        "dead",
        "default_latency",
    }


def test_sidekiq_web_queues_parse(sidekiq: RealSidekiq) -> None:
    snapshot = HttpStatsSource(f"{sidekiq.url}/sidekiq/stats/queues", StatsAuth(), timeout=5).read()
    assert snapshot.shape == "sidekiq_web_queues"
    assert snapshot.enqueued == sum((snapshot.queues or {}).values())


def test_quiet_at_the_threshold_and_alerting_above_it(sidekiq: RealSidekiq, slack: LocalServer) -> None:
    sidekiq.clear_retries()
    sidekiq.fail_jobs(50)
    assert poll(sidekiq, "/sidekiq/stats", slack) == EXIT_OK
    assert poll(sidekiq, "/sidekiq_queues", slack) == EXIT_OK
    assert slack.received == []

    sidekiq.fail_jobs(1)
    assert poll(sidekiq, "/sidekiq/stats", slack) == EXIT_ALERT
    assert poll(sidekiq, "/sidekiq_queues", slack) == EXIT_ALERT
    texts = [post.json()["text"] for post in slack.received]
    assert len(texts) == 2
    assert all("Sidekiq alert on real: retries is 51 (alert when retries &gt; 50)" in text for text in texts)
