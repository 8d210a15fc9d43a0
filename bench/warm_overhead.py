"""Warm poll overhead: handler time minus the time spent waiting on the stats source, 1,000 warm invocations.

State is kept in the local file store, a store the functions really use (goal: p50 and p99 under 5 ms).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Context, percentile, sized, slow_server, table

INVOCATIONS = sized(1000, 20)


def main() -> dict[str, float]:
    from sidekiq_watch.alerts.persistence.local_file import LocalFileStore
    from sidekiq_watch.stats import sources

    waits: list[float] = []
    real_read = sources.HttpStatsSource.read

    def timed_read(self: Any) -> Any:
        started = time.perf_counter()
        try:
            return real_read(self)
        finally:
            waits.append(time.perf_counter() - started)

    sources.HttpStatsSource.read = timed_read  # type: ignore[method-assign]
    body = {"sidekiq": {"retries": 3, "processes": 1, "enqueued": 5, "dead": 0, "default_latency": 0.1}}
    with slow_server(0.0, body) as url:
        os.environ.update(SIDEKIQ_STATS_URL=f"{url}/sidekiq/stats", POWERTOOLS_METRICS_NAMESPACE="Sidekiq")
        from sidekiq_watch.handlers import poller

        store = LocalFileStore(Path(tempfile.mkdtemp(prefix="bench-state-")) / "state.json")
        poller.state_store = lambda: store  # type: ignore[assignment]
        devnull, saved = os.open(os.devnull, os.O_WRONLY), os.dup(1)
        os.dup2(devnull, 1)  # logs and EMF metrics are still formatted and written, just not shown
        totals = []
        try:
            for _ in range(INVOCATIONS + 50):
                started = time.perf_counter()
                poller.handler({}, Context())
                totals.append(time.perf_counter() - started)
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
    overheads = [total - wait for total, wait in zip(totals[50:], waits[50:], strict=True)]
    result = {
        "p50": percentile(overheads, 0.5),
        "p99": percentile(overheads, 0.99),
        "wait_p50": percentile(waits[50:], 0.5),
    }
    print(
        f"Warm poll overhead: handler time minus stats-source wait, {INVOCATIONS} warm invocations (goal: under 5 ms)"
    )
    print(
        table(
            [
                ("overhead p50", "overhead p99", "source wait p50 (loopback)"),
                (
                    f"{result['p50'] * 1000:.2f} ms",
                    f"{result['p99'] * 1000:.2f} ms",
                    f"{result['wait_p50'] * 1000:.2f} ms",
                ),
            ]
        )
    )
    return result


if __name__ == "__main__":
    main()
