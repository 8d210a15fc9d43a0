"""Many targets in one invocation: concurrent, and one hanging target never hides the others."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sidekiq_watch.poll import build_watcher, run_poll
from sidekiq_watch.settings import load_poller_settings
from tests.support.servers import Reply, json_reply, local_server, silent_server

pytestmark = pytest.mark.integration


def test_a_hanging_target_does_not_delay_or_hide_the_others(tmp_path: Path) -> None:
    stats = json_reply({"sidekiq": {"retries": 60, "processes": 1}})
    with (
        local_server(lambda r: stats) as healthy,
        silent_server() as hanging,
        local_server(lambda r: Reply()) as slack,
    ):
        config = tmp_path / "watch.yaml"
        config.write_text(
            "rules: ['retries > 50']\ntargets:\n"
            + "".join(f"  - {{name: app{i}, url: '{healthy.url}/sidekiq/stats'}}\n" for i in range(5))
            + f"  - {{name: stuck, url: '{hanging}/sidekiq/stats'}}\n"
        )
        settings = load_poller_settings(
            {
                "SIDEKIQ_WATCH_CONFIG": str(config),
                "SLACK_WEBHOOK_URL": f"{slack.url}/hook",
                "HTTP_TIMEOUT_SECONDS": "30",
                "STATE_FILE": str(tmp_path / "state.json"),
            }
        )
        started = time.monotonic()
        report = run_poll(build_watcher(settings), time_left=lambda: 2.0 - (time.monotonic() - started))
    by_name = {t.target: t for t in report.targets}
    # Reported as unfinished (not as a 30 s timeout): the poll returned when the time ran out.
    assert by_name["stuck"].delivery == "not finished within the invocation's time; polled again next time"
    assert sorted(post.json()["text"] for post in slack.received) == [
        f"🚨 Sidekiq app{i}: FIRING: retries &gt; 50 (retries is 60)" for i in range(5)
    ]
