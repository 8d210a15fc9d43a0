"""Processes that look alive and are not (issue 25): on each real Sidekiq (6.4, 7.3, 8.1), the Redis
source counts `live_processes` from each process's heartbeat (`beat`, younger than Sidekiq's 60 s
expiry) and `quiet_processes` from its `quiet` flag, where `processes` (SCARD, and Sidekiq's own
processes_size) keeps counting a worker killed with -9 until its hash expires."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.redis_source import RedisStatsSource
from tests.support.real_sidekiq import VERSIONS, RealSidekiq, SidekiqVersion, real_sidekiq, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.sidekiq]


@pytest.fixture(params=VERSIONS, ids=repr)
def sidekiq(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RealSidekiq]:
    """A Sidekiq of its own per test: these tests quiet and kill its worker."""
    version: SidekiqVersion = request.param
    with real_sidekiq(tmp_path, version) as running:
        yield running


def read(sidekiq: RealSidekiq) -> tuple[int | None, int | None, int | None]:
    snapshot = RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5).read()
    return snapshot.processes, snapshot.live_processes, snapshot.quiet_processes


def test_a_quieted_process_is_counted_quiet_and_still_live(sidekiq: RealSidekiq) -> None:
    assert read(sidekiq) == (1, 1, 0)
    assert sidekiq.worker is not None
    sidekiq.worker.send_signal(signal.SIGTSTP)  # what a deploy sends before it stops a worker
    wait_until(lambda: read(sidekiq)[2] == 1, "the quiet flag in the next heartbeat", timeout=30)
    assert read(sidekiq) == (1, 1, 1)


def test_a_killed_process_is_no_longer_live_while_its_hash_still_counts(sidekiq: RealSidekiq) -> None:
    import redis

    assert sidekiq.worker is not None
    sidekiq.worker.kill()  # kill -9: no goodbye, the process hash stays until its 60 s TTL
    sidekiq.worker.wait()
    client = redis.Redis(port=sidekiq.redis_port)
    [process] = client.smembers("processes")
    assert client.ttl(process) > 0
    # One heartbeat expiry later, without waiting 60 s: the last beat made 61 s old.
    client.hset(process, "beat", str(time.time() - 61))
    assert sidekiq.stats()["processes"] == 1  # Sidekiq's own count still says 1
    assert read(sidekiq) == (1, 0, 0)


def scheduled_job(jid: str) -> str:
    import json

    now = time.time()
    return json.dumps(
        {"class": "SlowJob", "args": [0], "jid": jid, "queue": "default", "retry": False, "created_at": now}
    )


def test_a_due_scheduled_job_is_overdue_only_while_no_scheduler_runs(sidekiq: RealSidekiq) -> None:
    """Sidekiq's scheduler moves due entries within seconds; with every process gone nothing does
    (sidekiq#3889: 20 hours unnoticed), and scheduled_overdue_seconds keeps growing."""
    import redis

    client = redis.Redis(port=sidekiq.redis_port)
    client.zadd("schedule", {scheduled_job("due-now"): time.time() - 5})
    wait_until(lambda: client.zcard("schedule") == 0, "the scheduler to enqueue the due job", timeout=60)
    source = RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5)
    assert source.read().scheduled_overdue_seconds == 0.0
    sidekiq.kill_workers()
    client.zadd("schedule", {scheduled_job("stranded"): time.time() - 300})
    time.sleep(2)
    overdue = source.read().scheduled_overdue_seconds
    assert overdue is not None
    assert overdue >= 300
