"""The command line never surprises: what users of sam, amtool and kubectl expect of a CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from sidekiq_watch import __version__
from sidekiq_watch.cli import EXIT_ALERT, EXIT_CONFIG, main
from tests.conftest import EVENTS, SECRET_WEBHOOK

LOUD = str(EVENTS / "stats" / "handwritten.json")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"sidekiq-watch {__version__}"


def test_a_typo_in_a_subcommand_flag_shows_that_subcommands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["poll", "--treshold", "5"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: sidekiq-watch poll" in err
    assert "--treshold" in err


def test_a_bad_flag_value_is_named_as_typed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["poll", "--stats-url", LOUD, "--threshold", "fifty"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--threshold" in err
    assert "'fifty'" in err
    assert "RETRY_THRESHOLD" not in err


def test_a_url_without_a_scheme_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["poll", "--stats-url", "app.example.com/sidekiq/stats"]) == EXIT_ALERT
    assert "did you mean https://app.example.com/sidekiq/stats" in capsys.readouterr().err


def test_json_output_is_one_json_document_even_on_a_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["poll", "--stats-url", LOUD, "--json"]) == EXIT_ALERT
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["targets"][0]["figures"]["retries"] == 60
    assert "Slack message (dry run" in captured.err


def test_the_summary_speaks_of_unreadable_stats_not_rule_internals(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nope.json")
    for _ in range(2):  # two failed polls in a row fire "cannot read Sidekiq stats"
        main(["poll", "--stats-url", missing])
    err = capsys.readouterr().err
    assert "announced: firing stats unreadable" in err
    assert "source == 0" not in err


@responses.activate
def test_test_notify_takes_config_and_names_batch_channels_apart(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    responses.post(SECRET_WEBHOOK, body="ok")
    responses.post("https://hooks.slack.com/services/T0/B1/batch-s3cret", body="ok")
    batches = tmp_path / "batches.yaml"
    batches.write_text(
        "channels:\n  slack:\n    webhook_url: https://hooks.slack.com/services/T0/B1/batch-s3cret\n"
    )
    document = tmp_path / "watch.yaml"
    document.write_text(f"targets:\n  - name: shop\n    url: {LOUD}\n")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SECRET_WEBHOOK)
    monkeypatch.setenv("BATCH_CONFIG", str(batches))
    assert main(["test-notify", "--config", str(document), "--json"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert names == ["slack", "batch:slack"]


def test_check_lists_every_error_of_a_document_at_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = tmp_path / "watch.yaml"
    document.write_text(
        "targets:\n"
        "  - name: shop\n    url: ftp://shop.example.com/stats\n"
        "  - name: billing\n    url: https://billing.example.com/stats\n    rules: ['retries >> 5']\n"
        "  - url: https://x.example.com/stats\n"
    )
    assert main(["check", "--config", str(document)]) == EXIT_CONFIG
    out = capsys.readouterr()
    text = out.out + out.err
    assert "targets[0] (shop).url" in text
    assert "targets[1] (billing).rules[0]" in text
    assert "targets[2].name: required" in text


def test_a_batch_configuration_lists_every_error_at_once() -> None:
    from sidekiq_watch.batches.config import parse_batch_config
    from sidekiq_watch.errors import ConfigError

    document = {
        "channels": {"hook": {"type": "webhook"}, "chat": {"type": "teams", "colour": "red"}},
        "routes": [{"channels": ["hook"], "events": ["done"]}],
    }
    with pytest.raises(ConfigError) as caught:
        parse_batch_config(document, "test")
    problems = caught.value.problems
    assert any(p.startswith("channels.hook.url") for p in problems), problems
    assert any(p.startswith("channels.chat") and "colour" in p for p in problems), problems
    assert any(p.startswith("routes[0].events") for p in problems), problems


def test_a_corrupt_state_file_is_not_a_delivery_failure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from sidekiq_watch.cli import EXIT_FAILED

    state = tmp_path / "state.json"
    state.write_text("{ not json")
    assert main(["poll", "--stats-url", LOUD, "--state", str(state)]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "delivery" not in err.split("error:")[0]
    assert "unreadable" not in err
    assert str(state) in err


def test_the_exit_statuses_are_one_table_shown_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    from sidekiq_watch.cli import EXIT_STATUSES

    with pytest.raises(SystemExit):
        main(["poll", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for code, meaning in EXIT_STATUSES.items():
        assert f"{code} {meaning}" in help_text


def test_the_readme_shows_the_same_exit_statuses() -> None:
    from sidekiq_watch.cli import EXIT_STATUSES
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    for code, meaning in EXIT_STATUSES.items():
        assert f"| {code} | {meaning} |" in readme


@responses.activate
def test_test_notify_says_when_the_document_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    responses.post(SECRET_WEBHOOK, body="ok")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SECRET_WEBHOOK)
    assert main(["test-notify", "--config", str(tmp_path / "missing.yaml"), "--json"]) == 3
    results = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert results["slack"]["ok"] is True
    assert results["targets' webhooks"]["ok"] is False
    assert "missing.yaml" in results["targets' webhooks"]["detail"]
