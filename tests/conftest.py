"""Shared fixtures: the one place fake AWS credentials and region are set."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SECRET_WEBHOOK = "https://hooks.slack.com/services/T000TEST/B000TEST/s3cr3tW3bh00kT0k3n"
# Every secret the tests configure contains this mark; no output of any test may.
SECRET_MARK = "s3cr3t"
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
    from sidekiq_watch.settings import VARIABLES

    # Every variable the settings declare: a developer's shell never leaks into a test.
    for name in VARIABLES:
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

    for name in (
        "sidekiq_watch.handlers.poller",
        "sidekiq_watch.handlers.batch_webhook",
        "sidekiq_watch.handlers.slack_actions",
    ):
        module = sys.modules.get(name)
        for value in vars(module).values() if module else ():
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == name:
                value.cache_clear()


# Lines tests want printed at the end of the run (e.g. each Sidekiq version and the figures compared).
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY:
        terminalreporter.section("what was compared")
        for line in SUMMARY:
            terminalreporter.write_line(line)


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


class _Tee(io.TextIOBase):
    def __init__(self, stream: io.TextIOBase, seen: list[str]) -> None:
        self.stream, self.seen = stream, seen

    def write(self, text: str) -> int:
        if SECRET_MARK in text:
            self.seen.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        # Also called when the tee is collected, by which time pytest may have closed the stream.
        if not self.stream.closed:
            self.stream.flush()


class _Recorder(logging.Handler):
    def __init__(self, seen: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.seen = seen

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("moto", "werkzeug")):  # the fakes' own chatter is not ours
            return
        text = record.getMessage() + repr(record.__dict__)
        if SECRET_MARK in text:
            self.seen.append(text)


@pytest.fixture(autouse=True)
def no_secret_in_any_output(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Scans everything a test prints or logs, even at DEBUG, for the configured secrets.

    Only what leaks is kept, so a long soak does not grow memory here.
    """
    seen: list[str] = []
    recorder = _Recorder(seen)
    loggers = [logging.getLogger(), logging.getLogger("sidekiq-watch")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(recorder)
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("moto").setLevel(logging.WARNING)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(out, seen), _Tee(err, seen)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(recorder)
            logger.setLevel(level)
    assert not seen, f"a secret reached the output: {seen[0][:300]!r}"
