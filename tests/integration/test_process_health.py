"""Processes that look alive and are not (issue 25): on each real Sidekiq (6.4, 7.3, 8.1), the Redis
source counts `live_processes` from each process's heartbeat (`beat`, younger than Sidekiq's 60 s
expiry) and `quiet_processes` from its `quiet` flag, where `processes` (SCARD, and Sidekiq's own
processes_size) keeps counting a worker killed with -9 until its hash expires."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.redis_source import RedisStatsSource
from tests.support.real_sidekiq import VERSIONS, RealSidekiq, SidekiqVersion, real_sidekiq, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.sidekiq]


@pytest.fixture(scope="module", params=VERSIONS, ids=repr)
def sidekiq(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealSidekiq]:
    """One Sidekiq per version for this module, whose tests run in file order on it: the scheduler
    at work, then its worker quieted (which also stops its scheduler), then killed."""
    version: SidekiqVersion = request.param
    with real_sidekiq(tmp_path_factory.mktemp(f"health-{version.name}"), version) as running:
        yield running


def read(sidekiq: RealSidekiq) -> tuple[int | None, int | None, int | None]:
    snapshot = RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5).read()
    return snapshot.processes, snapshot.live_processes, snapshot.quiet_processes


def scheduled_job(jid: str) -> str:
    import json

    now = time.time()
    return json.dumps(
        {"class": "SlowJob", "args": [0], "jid": jid, "queue": "default", "retry": False, "created_at": now}
    )


def test_a_running_scheduler_leaves_nothing_overdue(sidekiq: RealSidekiq) -> None:
    import redis

    client = redis.Redis(port=sidekiq.redis_port)
    client.zadd("schedule", {scheduled_job("due-now"): time.time() - 5})
    wait_until(lambda: client.zcard("schedule") == 0, "the scheduler to enqueue the due job", timeout=60)
    assert RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5).read().scheduled_overdue_seconds == 0.0


def test_the_job_running_longest_is_timed_and_named(sidekiq: RealSidekiq) -> None:
    # The work hash travels with the heartbeat (every 10 s from Sidekiq 7): the job outlives two.
    sidekiq.control("/slow?seconds=25")
    source = RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5)
    wait_until(lambda: (source.read().longest_running_seconds or 0) >= 2, "SlowJob to run 2 s", timeout=40)
    assert source.read().longest_running_job == "SlowJob in default"


def test_deaths_at_the_dead_set_cap_are_counted_though_its_size_stays(sidekiq: RealSidekiq) -> None:
    """sidekiq#6827: at its cap the dead set trims its oldest as each job dies, so `dead` no longer
    moves while jobs keep dying; `dead_added` counts them by their death time."""
    import redis

    redis.Redis(port=sidekiq.redis_port).delete("dead")
    sidekiq.control("/dead_max?count=4")
    sidekiq.fail_jobs(10)
    sidekiq.control("/kill?count=6")  # the set fills to its cap
    source = RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5)
    at_cap = source.read().dead
    assert at_cap is not None
    assert 0 < at_cap <= 4
    previous_poll = time.time()
    time.sleep(0.05)
    sidekiq.control("/kill?count=3")  # three more die
    snapshot = source.read_since(previous_poll)
    assert snapshot.dead == at_cap  # the size did not move
    assert snapshot.dead_added == 3
    assert source.read().dead_added is None  # without a previous poll: not counted, not zero
    sidekiq.clear_retries()


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


def test_with_every_process_gone_a_due_job_stays_overdue(sidekiq: RealSidekiq) -> None:
    """Nothing enqueues due entries any more (sidekiq#3889: 20 hours unnoticed), and
    scheduled_overdue_seconds keeps growing."""
    import redis

    client = redis.Redis(port=sidekiq.redis_port)
    client.zadd("schedule", {scheduled_job("stranded"): time.time() - 300})
    time.sleep(2)
    overdue = RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5).read().scheduled_overdue_seconds
    assert overdue is not None
    assert overdue >= 300


def test_a_redis_that_evicts_under_memory_pressure_is_told(sidekiq: RealSidekiq) -> None:
    """Runs last (it fills this Sidekiq's Redis): allkeys-lru with a small maxmemory filled until keys
    are evicted, as sidekiq#5558 lost jobs."""
    import redis

    client = redis.Redis(port=sidekiq.redis_port)
    source = RedisStatsSource(sidekiq.redis_url, StatsAuth(), timeout=5)
    assert source.read().redis_evicts == 0  # redis-server's default: noeviction
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 2 * 1024 * 1024)
    client.config_set("maxmemory-policy", "allkeys-lru")
    for index in range(64):  # 4 MB into 2 MB of room
        client.set(f"filler:{index}", b"x" * 65536)
    assert int(client.info("stats")["evicted_keys"]) > 0
    snapshot = source.read()
    assert snapshot.redis_evicts == 1
    assert snapshot.redis_memory_percent is not None
    assert snapshot.redis_memory_percent > 80
    # The evictions since the previous poll: the growth of INFO stats' evicted_keys.
    from sidekiq_watch.alerts.history import Point, rates

    before = snapshot.redis_evicted_keys_total
    assert before is not None
    for index in range(64, 96):
        client.set(f"filler:{index}", b"x" * 65536)
    after = source.read().redis_evicted_keys_total
    assert after is not None
    assert after > before
    grown = rates({"redis_evicted_keys_total": after}, 2.0, Point(1.0, {"redis_evicted_keys_total": before}))
    assert grown["redis_evicted_keys"] == after - before
