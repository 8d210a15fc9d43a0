import json
from pathlib import Path

import pytest

from sidekiq_watch.errors import ConfigError
from sidekiq_watch.local_invoke import apply_env_vars_file, function_spec, invoke, load_template
from tests.conftest import EVENTS, ROOT

TEMPLATE = ROOT / "template.yaml"


def test_poller_spec_comes_from_the_template() -> None:
    spec = function_spec(load_template(TEMPLATE), "PollerFunction")
    assert spec.handler == "sidekiq_watch.handlers.poller.handler"
    assert spec.timeout == 60
    assert spec.environment["RETRY_THRESHOLD"] == ""  # deployed, the configuration document says it
    assert spec.environment["SLACK_WEBHOOK_URL"] == "ssm:/sidekiq-watch/slack-webhook-url"
    assert spec.environment["POWERTOOLS_SERVICE_NAME"] == "sidekiq-watch"
    assert spec.environment["SIDEKIQ_STATS_PASSWORD"] == ""


def test_parameter_overrides_flow_into_conditions_and_subs() -> None:
    spec = function_spec(
        load_template(TEMPLATE),
        "PollerFunction",
        {"StatsSecretParameter": "/sw/token", "SlackWebhookParameter": "secretsmanager:sw/hook"},
    )
    assert spec.environment["SIDEKIQ_STATS_TOKEN"] == "ssm:/sw/token"
    assert spec.environment["SLACK_WEBHOOK_URL"] == "secretsmanager:sw/hook"


def test_a_parameter_without_default_is_left_for_env_vars() -> None:
    template = load_template(TEMPLATE)
    del template["Parameters"]["StatsUrl"]["Default"]
    spec = function_spec(template, "PollerFunction")
    assert "SIDEKIQ_STATS_URL" in spec.unresolved


def test_env_vars_file_overrides_declared_and_ignores_undeclared(tmp_path: Path) -> None:
    spec = function_spec(load_template(TEMPLATE), "PollerFunction")
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps(
            {"Parameters": {"RETRY_THRESHOLD": "5", "NOPE": "x"}, "PollerFunction": {"RETRY_THRESHOLD": "7"}}
        )
    )
    environment, ignored = apply_env_vars_file(spec, env_file)
    assert environment["RETRY_THRESHOLD"] == "7"
    assert ignored == ["NOPE"]


def test_unknown_function_lists_the_ones_there_are() -> None:
    with pytest.raises(ConfigError, match="no function 'Nope' in the template \\(functions: PollerFunction"):
        function_spec(load_template(TEMPLATE), "Nope")


def test_invoke_runs_the_poller_on_the_sample_event(capsys: pytest.CaptureFixture[str]) -> None:
    result = invoke(TEMPLATE, "PollerFunction", EVENTS / "scheduled.json", env_vars_path=EVENTS / "env.json")
    [target] = result["targets"]
    assert target["target"] == "sample-app"
    assert target["findings"][0] == {
        "rule": "retries > 50",
        "status": "firing",
        "value": 60,
        "severity": "critical",
    }
    assert target["delivery"] == "printed (dry run: SLACK_WEBHOOK_URL is not set)"
    assert (
        '"text": "🚨 Sidekiq sample-app: FIRING: retries &gt; 50 (retries is 60)'
        in capsys.readouterr().err  # what the function prints goes to stderr
    )


def test_invoke_restores_the_environment() -> None:
    import os

    before = dict(os.environ)
    invoke(TEMPLATE, "PollerFunction", EVENTS / "scheduled.json", env_vars_path=EVENTS / "env.json")
    assert dict(os.environ) == before


def test_invoke_runs_the_batch_function_on_a_function_url_event(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in batch-notifications.yaml without being told where: the batch stack is its own."""
    monkeypatch.chdir(ROOT)
    result = invoke(
        None,
        "BatchNotificationsFunction",
        EVENTS / "batch-complete-with-failures.json",
        env_vars_path=EVENTS / "env.json",
    )
    assert result["statusCode"] == 200
    body = json.loads(result["body"])
    assert (body["route"], body["deliveries"][0]["status"]) == ("imports", "delivered")
    assert "[console] Sidekiq batch a8b2c1d4e5f60718" in capsys.readouterr().err
