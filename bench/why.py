"""Redis round trips: what one poll of a Redis source makes (every figure, the lost-jobs ones and
deaths since the last poll included), and what "why" (which jobs fail) adds to a poll that fires.

A real redis-server on loopback holds a retry set of 1,000 Sidekiq job payloads, 20 queues and 10
processes; a poll reads everything in two pipelines (goal: 2 round trips whatever it counts, no
KEYS/SCAN); the poll that announces `retries > 50` reads the newest 200 entries once more
(goal: one extra round trip, under 5 ms).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median, sized, table

ENTRIES = sized(1000, 100)
RUNS = sized(51, 5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    print(f"Why jobs fail: one poll that fires, {ENTRIES:,} entries in the retry set")
    if shutil.which("redis-server") is None:
        print("skipped: needs redis-server (apt-get install redis-server)")
        return
    import redis

    from sidekiq_watch.settings import StatsAuth
    from sidekiq_watch.stats.redis_source import RedisStatsSource

    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            for i in range(ENTRIES):
                payload = {
                    "class": ["FailingJob", "Mailer", "ImportJob"][i % 3],
                    "args": [i, "someone@example.com"],
                    "error_class": "RuntimeError",
                    "error_message": f"failure {i}",
                    "jid": f"{i:024x}",
                }
                client.zadd("retry", {json.dumps(payload): 1_700_000_000 + i})
            for q in range(20):
                client.sadd("queues", f"q{q}")
                client.rpush(f"queue:q{q}", json.dumps({"class": "Job", "enqueued_at": time.time()}))
            for p in range(10):
                client.sadd("processes", f"host:{p}")
                client.hset(
                    f"host:{p}", mapping={"info": "{}", "busy": 1, "beat": time.time(), "quiet": "false"}
                )
            source = RedisStatsSource(f"redis://127.0.0.1:{port}/0", StatsAuth(), timeout=5)
            source.read()  # connection made and warm, as in a poll that reads the figures first
            executed = [0]
            real_execute = redis.client.Pipeline.execute

            def counting(self: object, *args: object, **kwargs: object) -> object:
                executed[0] += 1
                return real_execute(self, *args, **kwargs)  # type: ignore[arg-type]

            redis.client.Pipeline.execute = counting  # type: ignore[method-assign]
            commands_before = sum(v["calls"] for v in client.info("commandstats").values())
            polled = source.read_since(time.time() - 300)
            commands = sum(v["calls"] for v in client.info("commandstats").values()) - commands_before - 1
            redis.client.Pipeline.execute = real_execute  # type: ignore[method-assign]
            poll_round_trips = executed[0]
            assert polled.dead_added is not None
            before = client.info("commandstats").get("cmdstat_zrevrange", {}).get("calls", 0)
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                source.failures(["retries"])
                times.append(time.perf_counter() - started)
            calls = client.info("commandstats").get("cmdstat_zrevrange", {}).get("calls", 0) - before
        finally:
            server.terminate()
            server.wait()
    print(
        table(
            [
                ("a poll of", "round trips", "commands", "goal"),
                (
                    "20 queues, 10 processes",
                    str(poll_round_trips),
                    str(commands),
                    "2 round trips, no KEYS/SCAN",
                ),
            ]
        )
    )
    print(
        table(
            [
                ("entries", "round trips a poll", "ZREVRANGE calls a poll", "median ms", "goal"),
                (
                    f"{ENTRIES:,}",
                    "1 (one pipeline)",
                    f"{calls / RUNS:g}",
                    f"{median(times) * 1000:.2f}",
                    "1 round trip, < 5 ms",
                ),
            ]
        )
    )


if __name__ == "__main__":
    main()
