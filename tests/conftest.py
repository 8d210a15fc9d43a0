"""Shared fixtures: the one place fake AWS credentials and region are set."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SECRET_WEBHOOK = "https://hooks.slack.com/services/T000TEST/B000TEST/s3cr3tW3bh00kT0k3n"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# Set at import, before any fixture (module-scoped ones too), so no test can reach a real account.
os.environ.update(FAKE_AWS)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials so no test can reach a real AWS account, and a clean slate of settings and state."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Sidekiq")
    for name in (
        "SIDEKIQ_STATS_URL",
        "SIDEKIQ_STATS_USERNAME",
        "SIDEKIQ_STATS_PASSWORD",
        "SIDEKIQ_STATS_TOKEN",
        "SIDEKIQ_STATS_TOKEN_HEADER",
        "SIDEKIQ_SOURCE_NAME",
        "SLACK_WEBHOOK_URL",
        "SLACK_CHANNEL",
        "RETRY_THRESHOLD",
        "HTTP_TIMEOUT_SECONDS",
        "SIDEKIQ_WEB_URL",
        "SIDEKIQ_WATCH_CONFIG",
        "STATE_TABLE",
        "STATE_FILE",
        "REPEAT_INTERVAL",
        "SOURCE_FAILURES_BEFORE_ALERT",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in-process for every AWS service; Powertools' parameter cache is cleared around it."""
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    parameters.clear_caches()
    with mock_aws():
        yield
    parameters.clear_caches()


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records the waits retries ask for instead of sleeping through them."""
    waits: list[float] = []
    monkeypatch.setattr("time.sleep", waits.append)
    return waits


@pytest.fixture(autouse=True)
def fresh_handler_caches() -> Iterator[None]:
    yield
    import sys

    for name in ("sidekiq_watch.handlers.poller", "sidekiq_watch.handlers.batch_webhook"):
        module = sys.modules.get(name)
        for value in vars(module).values() if module else ():
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == name:
                value.cache_clear()


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())
