"""Soak: 10,000 requests to the batch function through a real HTTP front, several client threads,
10% duplicates, 5% bad requests, channels failing 5% of the time at random. Afterwards: every valid
(bid, event, channel) delivered exactly once, nothing from a bad request, memory flat."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from sidekiq_watch.channels import Resources
from sidekiq_watch.handlers import batch_webhook
from sidekiq_watch.http import RetryPolicy
from tests.support.memory_idempotency import MemoryPersistenceLayer, MemoryRecords
from tests.support.servers import Received, Reply, local_server
from tests.support.wsgi_lambda import lambda_over_http

pytestmark = [pytest.mark.integration, pytest.mark.soak]
REQUESTS, CLIENTS, CHANNELS = 10_000, 8, 3
AUTH = "Basic " + base64.b64encode(b"sidekiq:s3cr3t-soak").decode()


class Context:
    function_name = "soak"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:soak"
    aws_request_id = "soak"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def deep_size(value: Any, seen: set[int] | None = None) -> int:
    """Bytes held by a structure of dicts, lists, tuples, strings and plain objects."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple | set):
        size += sum(deep_size(item, seen) for item in value)
    elif hasattr(value, "__dict__"):
        size += deep_size(vars(value), seen)
    return size


def rss_mb() -> float:
    return (
        next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:")) / 1024
    )


def plan(rng: random.Random) -> list[tuple[str, dict[str, Any] | bytes, dict[str, str]]]:
    """(kind, body, headers) for every request: valid, duplicate of an earlier valid one, or bad."""
    good_headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    requests_: list[tuple[str, dict[str, Any] | bytes, dict[str, str]]] = []
    valid: list[dict[str, Any]] = []
    for i in range(REQUESTS):
        roll = rng.random()
        if roll < 0.05:
            bad = rng.choice(
                [
                    (b"{not json", good_headers),
                    (json.dumps({"total": 3}).encode(), good_headers),
                    (json.dumps({"bid": f"bad-{i}", "failures": -1}).encode(), good_headers),
                    (
                        json.dumps({"bid": f"bad-{i}"}).encode(),
                        {**good_headers, "Authorization": "Basic d3Jvbmc6d3Jvbmc="},
                    ),
                    (
                        json.dumps({"bid": f"bad-{i}"}).encode(),
                        {**good_headers, "Content-Type": "text/plain"},
                    ),
                ]
            )
            requests_.append(("bad", bad[0], bad[1]))
        elif roll < 0.15 and valid:
            requests_.append(("duplicate", rng.choice(valid), good_headers))
        else:
            payload = {
                "bid": f"soak-{i}",
                "total": 10,
                "failures": i % 3,
                "pending": 0,
                "event": rng.choice(["complete", "success"]),
            }
            valid.append(payload)
            requests_.append(("valid", payload, good_headers))
    return requests_


def test_soak(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The suite logs at DEBUG to scan for secrets, and pytest keeps every record it sees for the report
    # (Powertools' records reach it on purpose, for caplog): 10,000 requests of that would be the
    # harness's memory, not the function's.
    logging.getLogger().setLevel(logging.WARNING)
    root = logging.getLogger()
    monkeypatch.setattr(
        root, "handlers", [h for h in root.handlers if type(h).__name__ != "LogCaptureHandler"]
    )
    rng = random.Random(2026)
    delivered: Counter[tuple[str, str, str]] = Counter()
    failures_injected = [0]
    lock = threading.Lock()

    def peer(request: Received) -> Reply:
        with lock:
            if rng.random() < 0.05:
                failures_injected[0] += 1
                return Reply(503, b"injected")
            body = request.json()
            delivered[(body["bid"], body["event"], request.path)] += 1
        return Reply(204, b"")

    records = MemoryRecords()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed at the end of the test
    with local_server(peer, record=False) as channels_peer, contextlib.redirect_stdout(devnull):
        # Logs and metrics are still formatted and written, to /dev/null rather than pytest's memory.
        monkeypatch.setattr(batch_webhook.logger.registered_handler, "stream", devnull)
        config = tmp_path / "batches.yaml"
        config.write_text(
            "channels:\n"
            + "".join(
                f"  hook{i}:\n    type: webhook\n    url: {channels_peer.url}/hook{i}\n"
                for i in range(CHANNELS)
            )
        )
        for name, value in {
            "BATCH_CONFIG": str(config),
            "BATCH_AUTH_USERNAME": "sidekiq",
            "BATCH_AUTH_PASSWORD": "s3cr3t-soak",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(batch_webhook, "persistence", lambda: lambda: MemoryPersistenceLayer(records))
        fast_retries = Resources(timeout=10, policy=RetryPolicy(attempts=3, backoff_seconds=0.01))
        monkeypatch.setattr(batch_webhook, "resources", lambda: fast_retries)
        batch_webhook.current_settings.cache_clear()
        work = plan(rng)
        statuses: Counter[tuple[str, int]] = Counter()
        latencies: list[float] = []
        retries = [0]
        memory: dict[str, float] = {}
        cursor = iter(enumerate(work))
        cursor_lock = threading.Lock()

        with lambda_over_http(batch_webhook.handler, Context()) as url:

            def client() -> None:
                session = requests.Session()
                while True:
                    with cursor_lock:
                        item = next(cursor, None)
                    if item is None:
                        return
                    index, (kind, body, headers) = item
                    data = body if isinstance(body, bytes) else json.dumps(body).encode()
                    for attempt in range(10):  # the sender retries a 502/409, as a Sidekiq callback job would
                        started = time.perf_counter()
                        status = session.post(
                            f"{url}/batches", data=data, headers=headers, timeout=30
                        ).status_code
                        latencies.append(time.perf_counter() - started)
                        if status not in (409, 502) or kind == "bad":
                            break
                        retries[0] += 1
                        time.sleep(0.01 * (attempt + 1))
                    statuses[(kind, status)] += 1
                    if index in (REQUESTS // 5, REQUESTS // 2):
                        memory["early" if index == REQUESTS // 5 else "half"] = rss_mb()

            started = time.perf_counter()
            threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=600)
            elapsed = time.perf_counter() - started
            memory["end"] = rss_mb()

    latencies.sort()
    held = deep_size(records.records) + deep_size(delivered) + deep_size(latencies)
    report = {
        "requests": sum(statuses.values()),
        "seconds": round(elapsed, 1),
        "per_second": round(REQUESTS / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "sender_retries": retries[0],
        "channel_failures_injected": failures_injected[0],
        "deliveries": len(delivered),
        "rss_mb_early": round(memory["early"]),
        "rss_mb_half": round(memory["half"]),
        "rss_mb_end": round(memory["end"]),
        "kb_per_request_after_warmup": round((memory["end"] - memory["half"]) * 1024 / (REQUESTS / 2), 2),
        "kept_by_test_kb_per_request": round(held / 1024 / REQUESTS, 2),
        "unexplained_kb_per_request": round(
            max(0.0, (memory["end"] - memory["half"]) * 1024 - held / 1024 / 2) / (REQUESTS / 2), 2
        ),
        "statuses": {f"{k}:{s}": n for (k, s), n in sorted(statuses.items())},
    }
    print("SOAK", json.dumps(report))
    devnull.close()
    expected = {
        (body["bid"], body["event"], f"/hook{c}")
        for kind, body, _ in work
        if kind == "valid"
        for c in range(CHANNELS)
        if isinstance(body, dict)
    }
    assert set(delivered) == expected
    assert all(count == 1 for count in delivered.values()), [k for k, v in delivered.items() if v > 1][:5]
    assert not any(bid.startswith("bad-") for bid, _, _ in delivered)
    assert all(400 <= status < 500 for (kind, status) in statuses if kind == "bad")
    assert all(status == 200 for (kind, status) in statuses if kind != "bad")
    # After warm-up the process may grow only by the data the test itself keeps (the stand-in delivery
    # table and the peer's tally, measured below); what is left per request is the function's own.
    assert report["unexplained_kb_per_request"] < 1.0, report
