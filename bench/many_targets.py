"""Many targets in one poll: each answers after 200 ms, so the physical limit of one poll is 0.2 s."""

from __future__ import annotations

import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUICK, slow_server, table

from sidekiq_watch.alerts.config import Target, WatchConfig
from sidekiq_watch.alerts.persistence.local_file import LocalFileStore
from sidekiq_watch.alerts.rules import parse_rule
from sidekiq_watch.http import new_session
from sidekiq_watch.poll import Watcher
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.sources import make_source

DELAY = 0.2


class Quiet:
    description = "nothing sent"

    name = "slack"
    kind = "slack"

    def deliver(self, message: Any, resources: Any) -> str:
        from sidekiq_watch.channels.slack import slack_payload

        self.post(slack_payload(message))
        return "posted"

    def post(self, payload: Any) -> None:
        pass


def poll(url: str, count: int) -> tuple[float, int, float]:
    """One poll, with the alert state in the local file store the CLI uses (a real store's cost)."""
    rules = (parse_rule("retries > 50", "r"),)
    targets = tuple(Target(f"app{i}", f"{url}/app{i}/stats", StatsAuth(), rules) for i in range(count))
    session = new_session()
    peak_threads = [threading.active_count()]
    watcher = Watcher(
        WatchConfig(targets),
        LocalFileStore(Path(tempfile.mkdtemp(prefix="bench-state-")) / "state.json"),
        source_for=lambda t: make_source(t.stats_url, t.auth, timeout=10, session=session),
        channel_for=lambda t: Quiet(),
    )
    stop = threading.Event()

    def watch_threads() -> None:
        while not stop.wait(0.01):
            peak_threads[0] = max(peak_threads[0], threading.active_count())

    watcher_thread = threading.Thread(target=watch_threads, daemon=True)
    watcher_thread.start()
    started = time.perf_counter()
    reports = watcher.poll_all()
    elapsed = time.perf_counter() - started
    stop.set()
    failures = [r for r in reports if r.source_error or r.failure]
    assert not failures, failures[0].as_dict()
    return elapsed, peak_threads[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> dict[str, float]:
    rows = [("targets", "poll time", "/ 0.2 s limit", "peak threads", "peak RSS")]
    results: dict[str, float] = {}
    with slow_server(DELAY, {"sidekiq": {"retries": 3, "processes": 1}}) as url:
        for count in (1, 10) if QUICK else (1, 10, 50, 200, 500, 1000):
            elapsed, threads, rss = poll(url, count)
            results[str(count)] = elapsed
            rows.append(
                (str(count), f"{elapsed:.2f} s", f"{elapsed / DELAY:.1f}x", str(threads), f"{rss:.0f} MB")
            )
    print(f"Many targets: every target answers after {DELAY * 1000:.0f} ms (goal: 200 targets in under 1 s)")
    print(table(rows))
    return results


if __name__ == "__main__":
    main()
