"""A dead Sidekiq is caught from every source, on every version: its workers killed with -9, the
default rules alert within two polls once the heartbeats have expired (Sidekiq Web's /stats still
counts the dead process: only the `stalled` rule sees it there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidekiq_watch.cli import main
from tests.support.real_sidekiq import VERSIONS, RealSidekiq, SidekiqVersion, real_sidekiq
from tests.support.servers import Reply, local_server

pytestmark = [pytest.mark.integration, pytest.mark.sidekiq]


@pytest.fixture(params=VERSIONS, ids=repr)
def sidekiq(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealSidekiq]:
    version: SidekiqVersion = request.param
    with real_sidekiq(tmp_path_factory.mktemp(f"dead-{version.name}"), version) as running:
        yield running


def test_killed_workers_alert_from_every_source(sidekiq: RealSidekiq, tmp_path: Path) -> None:
    document = tmp_path / "watch.yaml"
    document.write_text(
        "targets:\n"
        f"  - {{name: web, url: '{sidekiq.url}/sidekiq/stats'}}\n"
        f"  - {{name: redis, url: '{sidekiq.redis_url}'}}\n"
    )
    with local_server(lambda r: Reply()) as slack:

        def poll() -> None:
            main(
                [
                    "poll",
                    "--config",
                    str(document),
                    "--webhook-url",
                    f"{slack.url}/hook",
                    "--state",
                    str(tmp_path / "s"),
                ]
            )

        poll()  # alive and well
        assert slack.received == []
        sidekiq.kill_workers()
        sidekiq.control("/enqueue?count=3")  # work arrives; nobody takes it
        poll()
        poll()
    fired = {post.json()["text"] for post in slack.received}
    assert any(t.startswith("🚨 Sidekiq web: FIRING") and "stalled" in t for t in fired), fired
    assert any(t.startswith("🚨 Sidekiq redis: FIRING") for t in fired), fired
    web_stats = sidekiq.stats()
    assert web_stats["processes"] == 1  # what /stats still says: why `processes < 1` cannot see it
