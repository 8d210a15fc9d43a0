"""The batch function refuses what it cannot check, tells the sender to come back when it is a known
operational state, and never echoes a secret-bearing value in a configuration error."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from sidekiq_watch.alerts.config import load_watch_config
from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.errors import ConfigError
from sidekiq_watch.handlers import batch_webhook
from sidekiq_watch.local_invoke import FunctionSpec, LocalContext
from sidekiq_watch.settings import load_batch_settings, load_poller_settings
from tests.conftest import load_event


def fresh_context() -> LocalContext:
    """A new context per invocation, as Lambda gives: its remaining time counts from now."""
    return LocalContext(FunctionSpec("BatchNotificationsFunction", "", 30, 256, {}, []))


BASIC = "Basic " + base64.b64encode(b"sidekiq:s3cr3t-pw").decode()


@pytest.fixture
def print_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    config = tmp_path / "batches.yaml"
    config.write_text("channels:\n  console:\n    type: print\n")
    monkeypatch.setenv("BATCH_CONFIG", str(config))
    monkeypatch.setenv("DELIVERY_TABLE", "")
    return config


def invoke(authorization: str | None = BASIC) -> tuple[int, dict[str, Any], dict[str, str]]:
    event = load_event("batch-complete-with-failures.json")
    event["headers"].pop("authorization", None)
    if authorization is not None:
        event["headers"]["authorization"] = authorization
    result = batch_webhook.handler(event, fresh_context())
    return result["statusCode"], json.loads(result["body"]), result.get("headers", {})


def test_without_credentials_configured_every_request_is_refused(print_config: Path) -> None:
    status, body, _ = invoke(authorization=None)
    assert status == 503
    assert "no credentials configured" in body["error"]
    assert "BATCH_AUTH_PASSWORD" in body["error"]
    assert "deliveries" not in body


def test_batch_auth_none_is_the_explicit_opt_out(print_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_AUTH", "none")
    status, body, _ = invoke(authorization=None)
    assert status == 200
    assert body["deliveries"][0]["status"] == "delivered"


def test_batch_auth_takes_only_none(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="BATCH_AUTH: expected 'none'"):
        load_batch_settings({"BATCH_AUTH": "off"})


def test_batch_auth_none_with_credentials_is_a_contradiction() -> None:
    with pytest.raises(ConfigError, match="BATCH_AUTH"):
        load_batch_settings({"BATCH_AUTH": "none", "BATCH_AUTH_TOKEN": "s3cr3t-t"})


@pytest.mark.usefixtures("aws")
def test_an_unreadable_password_answers_503_with_retry_after(
    print_config: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BATCH_AUTH_USERNAME", "sidekiq")
    monkeypatch.setenv("BATCH_AUTH_PASSWORD", "ssm:/sidekiq-watch/batches/password")  # never created
    status, body, headers = invoke()
    assert status == 503
    assert headers["Retry-After"].isdigit()
    assert "credentials" in body["error"]
    assert "Traceback" not in caplog.text
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "BATCH_AUTH_PASSWORD" in errors[0].getMessage()
    assert "no such parameter" in errors[0].getMessage()


@pytest.mark.parametrize("config", ["missing", "unset", "ssm"])
def test_a_missing_batch_configuration_answers_503_naming_it(
    config: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BATCH_AUTH_USERNAME", "sidekiq")
    monkeypatch.setenv("BATCH_AUTH_PASSWORD", "s3cr3t-pw")
    if config == "missing":
        monkeypatch.setenv("BATCH_CONFIG", str(tmp_path / "nowhere.yaml"))
    elif config == "ssm":
        monkeypatch.setenv("BATCH_CONFIG", "ssm:/sidekiq-watch/batches/config")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "")
        monkeypatch.setenv("AWS_REGION", "")
    else:
        monkeypatch.delenv("BATCH_CONFIG", raising=False)
    status, body, headers = invoke()
    assert status == 503
    assert "Retry-After" in headers
    assert "BATCH_CONFIG" in body["error"]
    assert "Traceback" not in caplog.text
    assert [r.levelname for r in caplog.records].count("ERROR") == 1


def test_a_channel_written_as_a_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_batch_config({"channels": {"slack": "https://hooks.slack.com/services/T0/B0/s3cr3t"}}, "test")
    assert "s3cr3t" not in str(caught.value)
    assert "channels.slack: expected a mapping" in str(caught.value)


def test_a_password_given_as_a_list_is_refused_without_echoing_it() -> None:
    options = {"type": "webhook", "url": "https://h.example/x", "username": "u", "password": ["s3cr3t-a"]}
    with pytest.raises(ConfigError) as caught:
        parse_batch_config({"channels": {"hook": options}}, "test")
    assert "s3cr3t" not in str(caught.value)
    assert "channels.hook.password: expected text, got a list" in str(caught.value)


@pytest.mark.parametrize("url", ["https://user:s3cr3t-pw@/stats", "htps://user:s3cr3t-pw@h.example/stats"])
def test_an_invalid_stats_url_with_a_password_is_not_echoed(url: str) -> None:
    with pytest.raises(ConfigError) as from_env:
        load_poller_settings({"SIDEKIQ_STATS_URL": url})
    with pytest.raises(ConfigError) as from_document:
        load_watch_config(load_poller_settings({}), {"targets": [{"name": "a", "url": url}]}, "test")
    for caught in (from_env, from_document):
        assert "s3cr3t" not in str(caught.value)
        assert "url" in str(caught.value).lower()
