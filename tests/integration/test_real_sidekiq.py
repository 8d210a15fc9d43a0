"""The poller against each real Sidekiq people run (6.4, 7.3, 8.1) and Redis: the truth about formats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidekiq_watch.cli import EXIT_ALERT, EXIT_OK, main
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.sources import HttpStatsSource
from tests.support.real_sidekiq import VERSIONS, RealSidekiq, SidekiqVersion, real_sidekiq, wait_until
from tests.support.servers import LocalServer, Reply, local_server

pytestmark = [pytest.mark.integration, pytest.mark.sidekiq]


@pytest.fixture(scope="module", params=VERSIONS, ids=repr)
def sidekiq(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealSidekiq]:
    version: SidekiqVersion = request.param
    with real_sidekiq(tmp_path_factory.mktemp(f"sidekiq-{version.name}"), version) as running:
        assert running.truth()["version"].startswith(version.name), running.truth()["version"]
        yield running


@pytest.fixture
def slack() -> Iterator[LocalServer]:
    with local_server(lambda r: Reply()) as receiver:
        yield receiver


def poll(*args: str, slack: LocalServer) -> int:
    return main(["poll", "--webhook-url", f"{slack.url}/hook", *args])


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


def test_quiet_at_the_threshold_and_alerting_above_it(
    sidekiq: RealSidekiq, slack: LocalServer, tmp_path: Path
) -> None:
    config = tmp_path / "watch.yaml"
    config.write_text(f"""
rules: ["retries > 50"]
targets:
  - {{name: web, url: "{sidekiq.url}/sidekiq/stats"}}
  - {{name: handwritten, url: "{sidekiq.url}/sidekiq_queues"}}
""")
    sidekiq.clear_retries()
    sidekiq.fail_jobs(50)
    assert poll("--config", str(config), slack=slack) == EXIT_OK
    assert slack.received == []

    sidekiq.fail_jobs(1)
    assert poll("--config", str(config), slack=slack) == EXIT_ALERT
    texts = sorted(post.json()["text"] for post in slack.received)
    assert texts == [
        "🚨 Sidekiq handwritten: FIRING: retries &gt; 50 (retries is 51)",
        "🚨 Sidekiq web: FIRING: retries &gt; 50 (retries is 51)",
    ]


def test_a_whole_life_fires_once_stays_quiet_and_resolves_once(
    sidekiq: RealSidekiq, slack: LocalServer
) -> None:
    target = [
        "--stats-url",
        f"{sidekiq.url}/sidekiq/stats",
        "--source-name",
        "real",
        "--config",
        "",
        "--threshold",
        "50",
    ]
    sidekiq.clear_retries()
    assert poll(*target, slack=slack) == EXIT_OK
    sidekiq.fail_jobs(51)
    for _ in range(3):
        assert poll(*target, slack=slack) == EXIT_ALERT
    sidekiq.clear_retries()
    assert poll(*target, slack=slack) == EXIT_OK
    assert [post.json()["text"] for post in slack.received] == [
        "🚨 Sidekiq real: FIRING: retries &gt; 50 (retries is 51)",
        "✅ Sidekiq real: RESOLVED: retries &gt; 50 (retries is 0)",
    ]


def test_redis_source_agrees_with_sidekiq_web(sidekiq: RealSidekiq) -> None:
    from sidekiq_watch.stats.redis_source import RedisStatsSource

    sidekiq.control("/clear_all")
    sidekiq.fail_jobs(3)
    sidekiq.control("/schedule?count=2")
    sidekiq.control("/kill?count=1")
    sidekiq.control("/park?queue=parked&count=2")
    # Busy counts travel with the heartbeat (every 10 s from Sidekiq 7): the job outlives two of them.
    sidekiq.control("/slow?seconds=25")
    wait_until(lambda: sidekiq.stats()["busy"] == 1, "a job to be busy")
    before = sidekiq.stats()
    snapshot = RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5).read()
    after = sidekiq.stats()
    for figure in ("busy", "processes", "enqueued", "scheduled", "retries", "dead"):
        assert getattr(snapshot, figure) == before[figure] == after[figure], figure
    for counter in ("processed", "failed"):  # flushed by the worker every few seconds
        assert before[counter] <= getattr(snapshot, counter) <= after[counter], counter
    assert snapshot.queues == sidekiq.get("/sidekiq/stats/queues")
    assert (snapshot.retries, snapshot.dead, snapshot.scheduled, snapshot.busy) == (2, 1, 2, 1)
    sidekiq_latency = sidekiq.control("/latency?queue=parked")["latency"]
    assert snapshot.queue_latencies is not None
    assert abs(snapshot.queue_latencies["parked"] - sidekiq_latency) < 1.0


COMPARED: list[str] = []  # printed at the end of the run: each version and the figures compared


def test_every_figure_is_what_this_sidekiq_itself_reports(sidekiq: RealSidekiq) -> None:
    """Web /stats, /stats/queues and redis:// against Sidekiq::Stats, Queue#latency and ProcessSet."""
    from sidekiq_watch.stats.redis_source import RedisStatsSource

    sidekiq.control("/clear_all")
    sidekiq.fail_jobs(3)
    sidekiq.control("/schedule?count=2")
    sidekiq.control("/kill?count=1")
    sidekiq.control("/park?queue=parked&count=2")
    before = sidekiq.truth()
    web = HttpStatsSource(f"{sidekiq.url}/sidekiq/stats", StatsAuth(), timeout=5).read()
    queues = HttpStatsSource(f"{sidekiq.url}/sidekiq/stats/queues", StatsAuth(), timeout=5).read()
    redis = RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5).read()
    after = sidekiq.truth()
    exact = ("busy", "processes", "enqueued", "scheduled", "retries", "dead")
    for figure in exact:
        assert getattr(web, figure) == before[figure] == after[figure], ("web", figure)
        assert getattr(redis, figure) == before[figure] == after[figure], ("redis", figure)
    for counter in ("processed", "failed"):  # the worker flushes them late (7.3: up to ~15 s)
        for snapshot in (web, redis):
            assert before[counter] <= getattr(snapshot, counter) <= after[counter], counter
    assert queues.queues == redis.queues == before["queues"]
    assert abs((web.default_latency or 0) - before["default_latency"]) < 1.0
    assert redis.queue_latencies is not None
    for queue, latency in before["latencies"].items():
        assert abs(redis.queue_latencies[queue] - latency) < 1.0, queue
    COMPARED.append(
        f"Sidekiq {before['version']}: web /stats, /stats/queues and redis:// agree with Sidekiq::Stats on "
        + ", ".join(f"{f} {before[f]}" for f in exact)
        + f", queues {before['queues']}, latencies {dict(before['latencies'])}"
    )


def test_basic_auth_in_front_of_sidekiq_web(sidekiq: RealSidekiq) -> None:
    from sidekiq_watch.errors import SourceError
    from sidekiq_watch.secrets import Secret

    url = f"{sidekiq.url}/protected/sidekiq/stats"
    right = StatsAuth(username="watch", password=Secret("SIDEKIQ_STATS_PASSWORD", "s3cr3t-web"))
    assert HttpStatsSource(url, right, timeout=5).read().shape == "sidekiq_web_stats"
    with pytest.raises(SourceError) as refused:
        HttpStatsSource(url, StatsAuth(), timeout=5).read()
    assert refused.value.kind == "http_status"
    assert "401" in str(refused.value)


@pytest.fixture(scope="module", autouse=True)
def report_compared() -> Iterator[None]:
    yield
    from tests.conftest import SUMMARY

    SUMMARY.extend(COMPARED)
    COMPARED.clear()


def test_an_alert_says_which_jobs_fail_and_why(
    sidekiq: RealSidekiq, slack: LocalServer, tmp_path: Path
) -> None:
    """From the redis:// source itself, and for a /stats target through its read-only redis_url."""
    config = tmp_path / "watch.yaml"
    config.write_text(f"""
rules: ["retries > 2"]
targets:
  - {{name: redis, url: "{sidekiq.redis_url}"}}
  - {{name: web, url: "{sidekiq.url}/sidekiq/stats", redis_url: "{sidekiq.redis_url}"}}
  - {{name: plain, url: "{sidekiq.url}/sidekiq/stats"}}
""")
    sidekiq.control("/clear_all")
    sidekiq.fail_jobs(4)
    assert poll("--config", str(config), "--state", str(tmp_path / "s"), slack=slack) == EXIT_ALERT
    sections = {
        post.json()["blocks"][0]["text"]["text"]: post.json()["blocks"][1]["text"]["text"]
        for post in slack.received
    }
    for name in ("redis", "web"):
        text = sections[f"🚨 Sidekiq alert: {name}"]
        assert "Among the newest 4:" in text, text
        assert "`FailingJob` \u00d74 \u2014 `RuntimeError`: integration failure" in text, text
    assert "Among the newest" not in sections["🚨 Sidekiq alert: plain"]  # /stats alone cannot tell
    COMPARED.append(
        f"Sidekiq {sidekiq.truth()['version']}: why = {sections['🚨 Sidekiq alert: redis'].splitlines()[-1]}"
    )


def test_a_latency_alert_names_the_oldest_job(
    sidekiq: RealSidekiq, slack: LocalServer, tmp_path: Path
) -> None:
    config = tmp_path / "watch.yaml"
    config.write_text(
        f'rules: ["latency:parked >= 0"]\ntargets:\n  - {{name: q, url: "{sidekiq.redis_url}"}}\n'
    )
    sidekiq.control("/clear_all")
    sidekiq.control("/park?queue=parked&count=2")
    assert poll("--config", str(config), "--state", str(tmp_path / "s"), slack=slack) == EXIT_ALERT
    [post] = slack.received
    assert "Oldest job waiting: `FailingJob`" in post.json()["blocks"][1]["text"]["text"]
