"""The Redis source against a real redis-server, with keys in Sidekiq's own layout."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidekiq_watch.errors import SourceError
from sidekiq_watch.secrets import Secret
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.jobs import queue_latency
from sidekiq_watch.stats.redis_source import RedisStatsSource
from tests.support.real_redis import RedisServer, redis_server

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as running:
        yield running


def sidekiq_layout(r: Any, prefix: str = "", enqueued_at: float | int | None = None) -> None:
    """What a Sidekiq cluster leaves in Redis: counters, sets, queues and two processes, one dead."""
    key = lambda name: prefix + name  # noqa: E731
    r.set(key("stat:processed"), 1200)
    r.set(key("stat:failed"), 34)
    for i in range(3):
        r.zadd(key("schedule"), {json.dumps({"jid": f"s{i}"}): time.time() + 3600})
    for i in range(51):
        r.zadd(key("retry"), {json.dumps({"jid": f"r{i}"}): time.time() + 60})
    r.zadd(key("dead"), {json.dumps({"jid": "d0"}): time.time()})
    r.sadd(key("queues"), "default", "mailers")
    stamp = time.time() - 42.0 if enqueued_at is None else enqueued_at
    r.rpush(key("queue:default"), json.dumps({"jid": "newest", "enqueued_at": stamp + 40}))
    r.rpush(
        key("queue:default"), json.dumps({"jid": "oldest", "enqueued_at": stamp})
    )  # LINDEX -1: the oldest
    r.rpush(key("queue:mailers"), json.dumps({"jid": "m"}))
    r.sadd(key("processes"), "web.1:100:abc", "web.2:200:def")
    r.hset(
        key("web.1:100:abc"),
        mapping={"info": json.dumps({"hostname": "web.1"}), "busy": 3, "beat": time.time()},
    )
    # web.2's heartbeat hash expired: the process is gone though the set still names it.


def test_figures_are_computed_as_sidekiq_stats_does(server: RedisServer) -> None:
    sidekiq_layout(server.client())
    snapshot = RedisStatsSource(server.url, StatsAuth(), timeout=2).read()
    assert snapshot.figures() | {"default_latency": 0} == {
        "processed": 1200,
        "failed": 34,
        "busy": 3,
        "processes": 1,
        "enqueued": 3,
        "scheduled": 3,
        "retries": 51,
        "dead": 1,
        "default_latency": 0,
        "live_processes": 1,
        "quiet_processes": 0,
        "scheduled_overdue_seconds": 0.0,  # every entry is due in the future
        "retry_overdue_seconds": 0.0,
        "redis_evicts": 0,  # redis-server's default policy is noeviction; no maxmemory: no percent
        "redis_evicted_keys_total": 0,
        "longest_running_seconds": 0.0,  # nothing runs (and without a previous poll: no dead_added)
        "queue:default": 2,
        "queue:mailers": 1,
        "latency:default": snapshot.queue_latencies["default"],  # type: ignore[index]
        "latency:mailers": 0.0,
    }
    assert snapshot.default_latency == pytest.approx(42.0, abs=1.0)


def test_sidekiq_8_millisecond_timestamps(server: RedisServer) -> None:
    sidekiq_layout(server.client(), enqueued_at=int((time.time() - 90) * 1000))
    snapshot = RedisStatsSource(server.url, StatsAuth(), timeout=2).read()
    assert snapshot.default_latency == pytest.approx(90.0, abs=1.0)


def test_namespace_prefix(server: RedisServer) -> None:
    sidekiq_layout(server.client(), prefix="shop:")
    snapshot = RedisStatsSource(server.url, StatsAuth(), timeout=2, namespace="shop").read()
    assert (snapshot.retries, snapshot.processes) == (51, 1)


def test_foreign_data_is_reported_not_crashed_on(server: RedisServer) -> None:
    server.client().set("retry", "not a sorted set")  # type: ignore[attr-defined]
    with pytest.raises(SourceError, match="WRONGTYPE") as caught:
        RedisStatsSource(server.url, StatsAuth(), timeout=2).read()
    assert caught.value.kind == "bad_value"


def test_wrong_password_is_an_auth_error(tmp_path: Path) -> None:
    with redis_server(tmp_path, password="right") as protected:
        auth = StatsAuth(password=Secret("SIDEKIQ_STATS_PASSWORD", "wrong"))
        with pytest.raises(SourceError, match="refused the credentials") as caught:
            RedisStatsSource(protected.url, auth, timeout=2).read()
        assert caught.value.kind == "auth"
        assert "wrong" not in str(caught.value)
        right = StatsAuth(password=Secret("SIDEKIQ_STATS_PASSWORD", "right"))
        assert RedisStatsSource(protected.url, right, timeout=2).read().retries == 0


def test_a_stopped_redis_is_a_connect_error(server: RedisServer) -> None:
    source = RedisStatsSource(server.url, StatsAuth(), timeout=1)
    source.read()
    server.stop()
    with pytest.raises(SourceError) as caught:
        source.read()
    assert caught.value.kind == "connect"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (None, 0.0),
        (json.dumps({"jid": "x"}), 0.0),
        (json.dumps({"enqueued_at": 1000.5}), 10.0),
        (json.dumps({"enqueued_at": 1_000_500}), 10.0),
    ],
    ids=["empty", "no-stamp", "seconds-float", "milliseconds-int"],
)
def test_job_latency_reads_both_timestamp_formats(entry: Any, expected: float) -> None:
    assert queue_latency(entry, now=1010.5) == (pytest.approx(expected), None)


@pytest.mark.parametrize("missing", ["smembers", "zcard", "lindex"])
def test_a_user_lacking_a_command_is_an_auth_error_naming_it(server: RedisServer, missing: str) -> None:
    sidekiq_layout(server.client())
    server.client().execute_command(  # type: ignore[attr-defined]
        "ACL", "SETUSER", "watch", "on", ">s3cr3t-acl", "~*", "-@all",
        *[f"+{c}" for c in ("get", "zcard", "smembers", "hmget", "llen", "lindex", "ping") if c != missing],
    )  # fmt: skip
    auth = StatsAuth(username="watch", password=Secret("SIDEKIQ_STATS_PASSWORD", "s3cr3t-acl"))
    with pytest.raises(SourceError) as caught:
        RedisStatsSource(server.url, auth, timeout=2).read()
    assert caught.value.kind == "auth"
    assert missing.upper() in str(caught.value)
    assert "ACL" in str(caught.value)


@pytest.mark.parametrize(
    ("beat", "quiet", "live", "quieted"),
    [
        ("now", "false", 1, 0),
        ("now", "true", 1, 1),
        ("stale", "false", 0, 0),  # killed with -9: the hash outlives the process by up to a minute
        ("stale", "true", 0, 0),
        ("garbage", "false", 0, 0),
        (None, None, 0, 0),  # no beat at all: not live
    ],
)
def test_live_and_quiet_processes_come_from_each_heartbeat(
    server: RedisServer, beat: str | None, quiet: str | None, live: int, quieted: int
) -> None:
    r: Any = server.client()
    r.sadd("processes", "web.1:1:abc")
    fields: dict[str, Any] = {"info": json.dumps({"hostname": "web.1"}), "busy": 0}
    if beat is not None:
        fields["beat"] = {"now": time.time(), "stale": time.time() - 61, "garbage": "soon"}[beat]
    if quiet is not None:
        fields["quiet"] = quiet
    r.hset("web.1:1:abc", mapping=fields)
    snapshot = RedisStatsSource(server.url, StatsAuth(), timeout=2).read()
    assert (snapshot.processes, snapshot.live_processes, snapshot.quiet_processes) == (1, live, quieted)


def test_overdue_entries_tell_how_long_no_scheduler_has_run(server: RedisServer) -> None:
    r: Any = server.client()
    r.zadd(
        "schedule",
        {json.dumps({"jid": "late"}): time.time() - 600, json.dumps({"jid": "x"}): time.time() + 60},
    )
    r.zadd("retry", {json.dumps({"jid": "r"}): time.time() - 30})
    snapshot = RedisStatsSource(server.url, StatsAuth(), timeout=2).read()
    assert snapshot.scheduled_overdue_seconds == pytest.approx(600, abs=2)
    assert snapshot.retry_overdue_seconds == pytest.approx(30, abs=2)
    r.delete("schedule", "retry")
    empty = RedisStatsSource(server.url, StatsAuth(), timeout=2).read()
    assert (empty.scheduled_overdue_seconds, empty.retry_overdue_seconds) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("policy", "evicts"),
    [("noeviction", 0), ("allkeys-lru", 1), ("volatile-lru", 1), ("allkeys-random", 1), ("volatile-ttl", 1)],
)
def test_an_eviction_policy_and_the_memory_used_are_read(
    server: RedisServer, policy: str, evicts: int
) -> None:
    r: Any = server.client()
    r.config_set("maxmemory", 64 * 1024 * 1024)
    r.config_set("maxmemory-policy", policy)
    snapshot = RedisStatsSource(server.url, StatsAuth(), timeout=2).read()
    assert snapshot.redis_evicts == evicts
    used = r.info("memory")["used_memory"]
    assert snapshot.redis_memory_percent == pytest.approx(100 * used / (64 * 1024 * 1024), rel=0.2)


def test_a_user_without_zrange_or_info_still_reads_the_rest(server: RedisServer) -> None:
    """The ACL line of earlier versions grants neither: those figures stay absent, the poll works."""
    sidekiq_layout(server.client())
    server.client().execute_command(  # type: ignore[attr-defined]
        "ACL", "SETUSER", "old", "on", ">s3cr3t-acl", "~*", "-@all",
        *[f"+{c}" for c in ("get", "zcard", "smembers", "hmget", "llen", "lindex", "ping")],
    )  # fmt: skip
    auth = StatsAuth(username="old", password=Secret("SIDEKIQ_STATS_PASSWORD", "s3cr3t-acl"))
    snapshot = RedisStatsSource(server.url, auth, timeout=2).read()
    assert snapshot.retries == 51
    assert snapshot.scheduled_overdue_seconds is None
    assert snapshot.redis_evicts is None
    assert "scheduled_overdue_seconds" not in snapshot.figures()


@pytest.mark.parametrize("suffix", ["work", "workers"])  # Sidekiq 7 and 8; Sidekiq 6
def test_the_job_running_longest_is_timed_and_named(server: RedisServer, suffix: str) -> None:
    r: Any = server.client()
    sidekiq_layout(r)
    now = time.time()
    job = json.dumps({"class": "SlowJob", "args": [1], "jid": "a"})
    wrapped = json.dumps({"class": "JobWrapper", "wrapped": "ImportJob", "jid": "b"})
    r.hset(
        f"web.1:100:abc:{suffix}",
        mapping={
            "t1": json.dumps({"queue": "default", "payload": job, "run_at": int(now - 30)}),
            "t2": json.dumps({"queue": "imports", "payload": wrapped, "run_at": int(now - 5400)}),
            "t3": "[" * 5000,  # unreadable: skipped, the rest still read
        },
    )
    snapshot = RedisStatsSource(server.url, StatsAuth(), timeout=2).read()
    assert snapshot.longest_running_seconds == pytest.approx(5400, abs=2)
    assert snapshot.longest_running_job == "ImportJob in imports"


def test_an_http_target_with_a_read_only_redis_url_sees_the_lost_jobs_figures(server: RedisServer) -> None:
    """Issue 25: an HTTP endpoint cannot tell heartbeats, deaths or Redis's memory; its redis_url can."""
    from sidekiq_watch.stats.sources import make_source
    from tests.support.servers import json_reply, local_server

    r: Any = server.client()
    sidekiq_layout(r)
    previous_poll = time.time() - 60
    r.zadd("dead", {json.dumps({"jid": f"died{i}"}): time.time() - 5 for i in range(3)})
    handwritten = {"enqueued": 3, "queues": {"default": 2, "mailers": 1}, "retries": 51}
    with local_server(lambda request: json_reply(handwritten)) as app:
        plain = make_source(f"{app.url}/stats", StatsAuth(), timeout=2)
        assert plain.read().live_processes is None  # the endpoint alone cannot tell
        source = make_source(f"{app.url}/stats", StatsAuth(), timeout=2, detail_url=server.url)
        from sidekiq_watch.stats.sources import ReadsSinceLastPoll

        assert isinstance(source, ReadsSinceLastPoll)
        snapshot = source.read_since(previous_poll)
    assert (snapshot.retries, snapshot.enqueued) == (51, 3)  # the endpoint's own figures
    assert snapshot.live_processes == 1
    assert snapshot.dead_added == 4  # the layout's one death and three more, all within the minute
    assert snapshot.redis_evicts == 0
    assert snapshot.redis_evicted_keys_total == 0


def test_an_unreadable_redis_url_leaves_its_figures_out_and_keeps_the_endpoint_s(tmp_path: Path) -> None:
    from sidekiq_watch.stats.sources import make_source
    from tests.support.servers import json_reply, local_server

    with local_server(lambda request: json_reply({"enqueued": 0, "queues": {}, "retries": 7})) as app:
        source = make_source(f"{app.url}/stats", StatsAuth(), timeout=1, detail_url="redis://127.0.0.1:9/0")
        snapshot = source.read_since(None)  # type: ignore[attr-defined]
    assert snapshot.retries == 7
    assert snapshot.live_processes is None
