import json
from pathlib import Path

import pytest
import responses

from sidekiq_watch.cli import EXIT_ALERT, EXIT_CONFIG, EXIT_DELIVERY, EXIT_OK, main
from tests.conftest import EVENTS, ROOT, SECRET_WEBHOOK

LOUD = str(EVENTS / "stats" / "handwritten.json")
WEB_STATS = str(EVENTS / "stats" / "sidekiq-web-stats.json")  # retries 61, processes 2


def test_poll_of_quiet_stats_exits_0_and_prints_no_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["poll", "--stats-url", WEB_STATS, "--threshold", "100"]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "rule retries > 100: OK" in captured.err
    assert "rule processes < 1: OK" in captured.err


def test_second_poll_does_not_repeat_the_alert(capsys: pytest.CaptureFixture[str]) -> None:
    main(["poll", "--stats-url", LOUD])
    assert "Sidekiq alert" in capsys.readouterr().out
    assert main(["poll", "--stats-url", LOUD]) == EXIT_ALERT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        "announced: nothing new (already announced, reminders follow REPEAT_INTERVAL: retries > 50"
        in captured.err
    )


def test_state_flag_chooses_the_state_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["poll", "--stats-url", LOUD, "--state", str(tmp_path / "mine.json")])
    assert json.loads((tmp_path / "mine.json").read_text())["targets"]["handwritten.json"]["records"]


def test_poll_with_an_alert_prints_the_message_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["poll", "--stats-url", LOUD, "--source-name", "shop"]) == EXIT_ALERT
    out = capsys.readouterr().out
    assert "🚨 Sidekiq shop: FIRING: retries &gt; 50 (retries is 60)" in out


def test_threshold_flag_overrides_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETRY_THRESHOLD", "10")
    assert main(["poll", "--stats-url", LOUD, "--threshold", "100"]) == EXIT_OK


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    main(["poll", "--stats-url", WEB_STATS, "--threshold", "100", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["targets"][0]["figures"]["retries"] == 61


def test_configuration_error_names_the_variable_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETRY_THRESHOLD", "many")
    assert main(["poll", "--stats-url", LOUD]) == EXIT_CONFIG
    assert "RETRY_THRESHOLD: must be a whole number, got 'many'" in capsys.readouterr().err


@responses.activate
def test_slack_rejection_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    responses.post(SECRET_WEBHOOK, status=403, body="invalid_token")
    assert main(["poll", "--stats-url", LOUD, "--webhook-url", SECRET_WEBHOOK]) == EXIT_DELIVERY
    captured = capsys.readouterr()
    assert "invalid_token" in captured.err
    assert "s3cr3t" not in captured.err + captured.out


def test_invoke_prints_the_handler_result(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "invoke",
            "PollerFunction",
            "--event",
            str(EVENTS / "scheduled.json"),
            "--env-vars",
            str(EVENTS / "env.json"),
            "--template",
            str(ROOT / "template.yaml"),
        ]
    )
    assert code == EXIT_OK
    result = json.loads(capsys.readouterr().out)  # stdout is the response alone, as with SAM
    assert result["targets"][0]["target"] == "sample-app"


def test_a_rule_held_for_a_while_is_shown_pending_and_is_not_yet_an_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "watch.json"
    config.write_text(json.dumps({"rules": ["retries > 50 for 10m"]}))
    poll = ["poll", "--stats-url", LOUD, "--config", str(config), "--state", str(tmp_path / "s.json")]
    assert main(poll) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing announced while pending
    assert "rule retries > 50: PENDING (0s of 10m)" in captured.err
