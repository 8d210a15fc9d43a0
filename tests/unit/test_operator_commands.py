"""`sidekiq-watch check` and `test-notify`: what they print and how they exit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
import responses

from sidekiq_watch.cli import EXIT_ALERT, EXIT_CONFIG, EXIT_DELIVERY, EXIT_FAILED, EXIT_OK, main
from tests.conftest import EVENTS, SECRET_WEBHOOK

WEB_STATS = str(EVENTS / "stats" / "sidekiq-web-stats.json")  # retries 61, processes 2


def test_check_shows_each_figure_rule_and_state(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIDEKIQ_STATS_URL", WEB_STATS)
    monkeypatch.setenv("RETRY_THRESHOLD", "100")
    assert main(["check"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "retries    61     retries > 100  OK" in out
    assert "processes  2      processes < 1  OK" in out
    assert "all is well" in out
    assert "\033[" not in out  # no colour codes when not a terminal


def test_check_says_what_the_source_cannot_see_and_which_bundled_rules_it_leaves_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sidekiq Web's /stats has no heartbeats or Redis figures: the bundled rules on them are left
    out (and said so here), never announced as "cannot evaluate"."""
    monkeypatch.setenv("SIDEKIQ_STATS_URL", WEB_STATS)
    main(["check", "--json"])
    [target] = json.loads(capsys.readouterr().out)["targets"]
    assert {"live_processes", "redis_evicts", "scheduled_overdue_seconds"} <= set(target["unseen"])
    assert "redis_evicts > 0" in target["left_out"]
    assert "processes < 1" not in target["left_out"]  # no heartbeats here: the processes rule stays
    assert target["figures"]["retries"] == 61
    main(["check"])
    out = capsys.readouterr().out
    assert "not seen by this source: " in out
    assert "bundled rules left out here (their figure is not seen): live_processes < 1" in out
    assert "UNKNOWN" not in out


def test_check_exits_1_when_a_rule_fires(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIDEKIQ_STATS_URL", WEB_STATS)
    assert main(["check"]) == EXIT_ALERT
    assert "FIRING (critical)" in capsys.readouterr().out


def test_check_names_an_unreadable_secret_without_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], aws: None
) -> None:
    boto3.client("ssm").put_parameter(Name="/sw/stats-token", Value="s3cr3t-tok", Type="SecureString")
    monkeypatch.setenv("SIDEKIQ_STATS_URL", WEB_STATS)
    monkeypatch.setenv("SIDEKIQ_STATS_TOKEN", "ssm:/sw/stats-token")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "ssm:/sw/missing-webhook")
    assert main(["check", "--json"]) == EXIT_CONFIG
    report = json.loads(capsys.readouterr().out)
    secrets = {c["name"]: c for c in report["checks"] if c["area"] == "secret"}
    assert secrets["SIDEKIQ_STATS_TOKEN"] == {
        "area": "secret",
        "name": "SIDEKIQ_STATS_TOKEN",
        "ok": True,
        "detail": "ssm:/sw/stats-token can be read",
    }
    assert secrets["SLACK_WEBHOOK_URL"]["ok"] is False
    assert secrets["SLACK_WEBHOOK_URL"]["detail"] == (
        "SLACK_WEBHOOK_URL: could not read ssm:/sw/missing-webhook: no such parameter"
    )
    assert report["ok"] is False


def test_check_reports_an_unreadable_target(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIDEKIQ_STATS_URL", "/nonexistent/stats.json")
    assert main(["check", "--json"]) == EXIT_ALERT
    [target] = json.loads(capsys.readouterr().out)["targets"]
    assert target["error"] == "/nonexistent/stats.json: no such file"


def test_check_with_an_invalid_document_exits_2_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "watch.yaml"
    config.write_text("rules: ['retries >> 5']")
    monkeypatch.setenv("SIDEKIQ_STATS_URL", WEB_STATS)
    assert main(["check", "--config", str(config)]) == EXIT_CONFIG
    assert "FAIL  config" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("situation", "expected"),
    [
        ("an invalid watch document", EXIT_CONFIG),
        ("an unreadable secret reference", EXIT_CONFIG),
        ("an unreadable source", EXIT_ALERT),
        ("a firing rule", EXIT_ALERT),
        ("unreadable alert state", EXIT_FAILED),
    ],
)
def test_poll_and_check_exit_alike_for_the_same_situation(
    situation: str, expected: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, aws: None
) -> None:
    """One table of exit statuses: `check` foretells what `poll` will answer."""
    monkeypatch.setenv("SIDEKIQ_STATS_URL", WEB_STATS)  # retries 61: the bundled rule fires
    monkeypatch.setenv("STATE_FILE", str(tmp_path / "state.json"))
    if situation == "an invalid watch document":
        config = tmp_path / "watch.yaml"
        config.write_text("rules: ['retries >> 5']")
        monkeypatch.setenv("SIDEKIQ_WATCH_CONFIG", str(config))
    elif situation == "an unreadable secret reference":
        monkeypatch.setenv("SLACK_WEBHOOK_URL", "ssm:/sw/missing-webhook")
    elif situation == "an unreadable source":
        monkeypatch.setenv("SIDEKIQ_STATS_URL", str(tmp_path / "missing.json"))
    elif situation == "unreadable alert state":
        (tmp_path / "state.json").write_text("{not json")
    statuses = {"check": main(["check"])}
    if situation == "unreadable alert state":
        (tmp_path / "state.json").write_text("{not json")  # check kept the corrupt file aside
    statuses["poll"] = main(["poll"])
    assert statuses == {"check": expected, "poll": expected}


def test_check_with_a_bad_environment_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETRY_THRESHOLD", "lots")
    assert main(["check"]) == EXIT_CONFIG
    assert "RETRY_THRESHOLD: must be a whole number" in capsys.readouterr().err


@responses.activate
def test_test_notify_sends_a_marked_message_to_each_destination(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    responses.post(SECRET_WEBHOOK, body="ok")
    responses.post("https://hooks.example.com/batches", status=503)
    config = tmp_path / "batches.yaml"
    config.write_text("channels:\n  ops:\n    type: webhook\n    url: https://hooks.example.com/batches\n")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SECRET_WEBHOOK)
    monkeypatch.setenv("BATCH_CONFIG", str(config))
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    assert main(["test-notify", "--json"]) == EXIT_DELIVERY
    outcomes = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert outcomes["slack"]["ok"] is True
    assert outcomes["batch:ops"]["ok"] is False
    assert "HTTP 503" in outcomes["batch:ops"]["detail"]
    slack_body = json.loads(responses.calls[0].request.body)
    assert slack_body["text"].startswith(":white_check_mark: TEST from sidekiq-watch")
    batch_body = json.loads(responses.calls[1].request.body)
    assert batch_body["description"].startswith("TEST from sidekiq-watch")


@responses.activate
def test_test_notify_one_channel(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    responses.post(SECRET_WEBHOOK, body="ok")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SECRET_WEBHOOK)
    assert main(["test-notify", "--channel", "slack"]) == EXIT_OK
    assert "sent  slack" in capsys.readouterr().out


def test_test_notify_with_nothing_configured_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-notify"]) == EXIT_CONFIG
    assert "nothing to notify; set SLACK_WEBHOOK_URL or BATCH_CONFIG" in capsys.readouterr().err


def test_help_reads_like_documentation(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "resolves every secret reference" in out
    assert "Exit status: 0 all is well" in out


def test_check_shows_a_rule_waiting_out_its_hold_from_the_alert_state(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "watch.json"
    config.write_text(json.dumps({"rules": ["retries > 50 for 10m"]}))
    monkeypatch.setenv("SIDEKIQ_STATS_URL", WEB_STATS)
    monkeypatch.setenv("SIDEKIQ_WATCH_CONFIG", str(config))
    monkeypatch.setenv("STATE_FILE", str(tmp_path / "state.json"))
    assert main(["poll"]) == EXIT_OK  # the breach starts pending: nothing announced
    capsys.readouterr()
    assert main(["check"]) == EXIT_OK
    out = capsys.readouterr().out
    assert re.search(r"retries +61 +retries > 50 +PENDING \(critical\) \(0s of 10m\)", out), out
