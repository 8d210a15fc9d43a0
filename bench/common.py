"""Helpers for the benchmarks: local peers that answer after a delay, timing, tables."""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# BENCH_QUICK=1: every benchmark once, at small sizes: proves `make bench` still runs (tests/template);
# its figures mean nothing.
QUICK = os.environ.get("BENCH_QUICK") == "1"


def sized(full: int, quick: int) -> int:
    return quick if QUICK else full


@contextmanager
def slow_server(delay: float, body: dict[str, Any] | None = None, status: int = 200) -> Iterator[str]:
    """A loopback HTTP server answering every request after ``delay`` seconds; yields its base URL."""
    payload = json.dumps(body or {"ok": True}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # the listen backlog: the default 5 drops bursts of connections

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def timed(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


class Context:
    """The Lambda context attributes handlers and Powertools read."""

    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "r"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@contextmanager
def moto_with_tables() -> Iterator[dict[str, str]]:
    """A moto server on 127.0.0.1 with the state and delivery tables; yields the environment a
    measured function process is given (fake credentials, the endpoint, the region)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's request log
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    env = {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "POWERTOOLS_METRICS_NAMESPACE": "Sidekiq",
    }
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    for name, keys in (("state", [("pk", "HASH"), ("sk", "RANGE")]), ("deliveries", [("id", "HASH")])):
        dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
        )
    try:
        yield env
    finally:
        moto.stop()


def declared(template: str, function: str) -> tuple[int, int]:
    """A function's MemorySize and Timeout as its template declares them (the one source of both)."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "src"))
    from sidekiq_watch.local_invoke import function_spec, load_template

    spec = function_spec(load_template(root / template), function, {"StatsUrl": "https://a.example"})
    return spec.memory, spec.timeout
