import boto3
import pytest

from sidekiq_watch.errors import ConfigError, SecretError
from sidekiq_watch.settings import load_all_settings, load_batch_settings, load_poller_settings
from tests.conftest import SECRET_WEBHOOK

BASE = {"SIDEKIQ_STATS_URL": "https://app.example.com/sidekiq/stats"}


def test_defaults() -> None:
    settings = load_poller_settings(BASE)
    assert settings.retry_threshold is None  # the bundled rules say 50
    assert settings.http_timeout_seconds == 10.0
    assert settings.dry_run


def test_empty_values_count_as_unset() -> None:
    settings = load_poller_settings({**BASE, "SLACK_WEBHOOK_URL": "", "RETRY_THRESHOLD": " "})
    assert settings.retry_threshold is None
    assert settings.slack_webhook_url is None


def test_durations_accept_units() -> None:
    assert load_poller_settings({"REPEAT_INTERVAL": "1h30m"}).repeat_interval == 5400.0


def test_bad_duration_names_the_variable() -> None:
    with pytest.raises(
        ConfigError, match="REPEAT_INTERVAL: expected a duration such as 90, '30m' or '1h', got 'often'"
    ):
        load_poller_settings({"REPEAT_INTERVAL": "often"})


def test_non_numeric_threshold_names_the_variable_and_value() -> None:
    with pytest.raises(ConfigError, match="RETRY_THRESHOLD: must be a whole number, got 'fifty'"):
        load_poller_settings({**BASE, "RETRY_THRESHOLD": "fifty"})


def test_negative_timeout_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"HTTP_TIMEOUT_SECONDS: must be at least 0\.1, got '-1'"):
        load_poller_settings({**BASE, "HTTP_TIMEOUT_SECONDS": "-1"})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_poller_settings(
            {"SIDEKIQ_STATS_URL": "ftp://x/y", "RETRY_THRESHOLD": "x", "HTTP_TIMEOUT_SECONDS": "y"}
        )
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "SIDEKIQ_STATS_URL",
        "RETRY_THRESHOLD",
        "HTTP_TIMEOUT_SECONDS",
    ]


def test_malformed_stats_url_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SIDEKIQ_STATS_URL: must be an http"):
        load_poller_settings({"SIDEKIQ_STATS_URL": "https://"})


def test_malformed_webhook_url_is_rejected_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_poller_settings({**BASE, "SLACK_WEBHOOK_URL": "hooks.slack.com/services/T0/B0/s3cr3t"})
    assert "SLACK_WEBHOOK_URL" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize("value", ["vault:secret/slack", "xoxbS3CR3T:abc/def"])
def test_a_value_that_is_neither_url_nor_reference_is_refused_without_showing_any_of_it(value: str) -> None:
    with pytest.raises(ConfigError, match="SLACK_WEBHOOK_URL: neither a URL nor a reference") as caught:
        load_poller_settings({**BASE, "SLACK_WEBHOOK_URL": value})
    assert value.split(":")[0] not in str(caught.value)


def test_empty_reference_is_rejected() -> None:
    with pytest.raises(ConfigError, match="SLACK_WEBHOOK_URL: the reference 'ssm:' names no parameter"):
        load_poller_settings({**BASE, "SLACK_WEBHOOK_URL": "ssm:"})


def test_username_without_password_is_rejected() -> None:
    with pytest.raises(ConfigError, match="SIDEKIQ_STATS_USERNAME and SIDEKIQ_STATS_PASSWORD: set both"):
        load_poller_settings({**BASE, "SIDEKIQ_STATS_USERNAME": "ops"})


def test_plain_http_webhook_is_accepted() -> None:
    settings = load_poller_settings({**BASE, "SLACK_WEBHOOK_URL": "http://127.0.0.1:9999/hook"})
    assert settings.slack_webhook_url is not None
    assert settings.slack_webhook_url.reveal() == "http://127.0.0.1:9999/hook"


def test_plain_http_webhook_to_a_remote_host_warns(caplog: pytest.LogCaptureFixture) -> None:
    load_poller_settings({**BASE, "SLACK_WEBHOOK_URL": "http://hooks.example.com/x/s3cr3t"})
    assert "SLACK_WEBHOOK_URL uses plain http://" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_ssm_reference_is_resolved(aws: None) -> None:
    boto3.client("ssm").put_parameter(Name="/sw/slack", Value=SECRET_WEBHOOK, Type="SecureString")
    settings = load_poller_settings({**BASE, "SLACK_WEBHOOK_URL": "ssm:/sw/slack"})
    assert settings.slack_webhook_url is not None
    assert settings.slack_webhook_url.reveal() == SECRET_WEBHOOK


def test_secrets_manager_reference_is_resolved(aws: None) -> None:
    boto3.client("secretsmanager").create_secret(Name="sw/stats-token", SecretString="tok-123")
    settings = load_poller_settings({**BASE, "SIDEKIQ_STATS_TOKEN": "secretsmanager:sw/stats-token"})
    assert settings.stats_auth.token is not None
    assert settings.stats_auth.token.reveal() == "tok-123"


def test_resolved_secret_is_cached(aws: None) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/sw/slack", Value=SECRET_WEBHOOK, Type="SecureString")
    secret = load_poller_settings({**BASE, "SLACK_WEBHOOK_URL": "ssm:/sw/slack"}).slack_webhook_url
    assert secret is not None
    secret.reveal()
    ssm.put_parameter(
        Name="/sw/slack", Value="https://changed.example.com/x", Type="SecureString", Overwrite=True
    )
    assert secret.reveal() == SECRET_WEBHOOK


def test_missing_parameter_names_the_variable_and_reference(aws: None) -> None:
    settings = load_poller_settings({**BASE, "SLACK_WEBHOOK_URL": "ssm:/sw/missing"})
    assert settings.slack_webhook_url is not None
    with pytest.raises(
        SecretError, match=r"SLACK_WEBHOOK_URL: could not read ssm:/sw/missing: no such parameter"
    ):
        settings.slack_webhook_url.reveal()


def test_missing_secret_names_the_variable_and_reference(aws: None) -> None:
    settings = load_poller_settings({**BASE, "SIDEKIQ_STATS_TOKEN": "secretsmanager:nope"})
    assert settings.stats_auth.token is not None
    with pytest.raises(
        SecretError, match="SIDEKIQ_STATS_TOKEN: could not read secretsmanager:nope: no such secret"
    ):
        settings.stats_auth.token.reveal()


def test_a_password_alone_is_accepted_when_no_stats_url_says_it_is_for_http() -> None:
    """`sidekiq-watch listen --redis-url redis://…` with SIDEKIQ_STATS_PASSWORD for Redis's default user."""
    settings = load_poller_settings({"SIDEKIQ_STATS_PASSWORD": "s3cr3t-redis"})
    assert settings.stats_auth.password is not None
    assert settings.stats_auth.username is None


def test_a_password_alone_for_an_http_stats_url_still_needs_its_user_name() -> None:
    with pytest.raises(ConfigError, match="SIDEKIQ_STATS_USERNAME"):
        load_poller_settings(
            {"SIDEKIQ_STATS_URL": "https://a.example/stats", "SIDEKIQ_STATS_PASSWORD": "s3cr3t-x"}
        )


def test_no_declared_variable_leaks_from_the_shell_into_a_test() -> None:
    import os

    from sidekiq_watch.settings import VARIABLES

    assert [name for name in VARIABLES if name in os.environ] == []


def test_each_function_reads_only_its_own_variables() -> None:
    """A bad poller value cannot take the batch function down, nor a bad batch value the poller."""
    assert load_batch_settings({"RETRY_THRESHOLD": "fifty"}).max_body_bytes == 256 * 1024
    assert load_poller_settings({"BATCH_AUTH": "off"}).retry_threshold is None
    with pytest.raises(ConfigError, match="BATCH_AUTH: expected 'none'"):
        load_batch_settings({"BATCH_AUTH": "off"})


def test_commands_serving_both_functions_report_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        load_all_settings({"RETRY_THRESHOLD": "fifty", "BATCH_AUTH": "off", "HTTP_TIMEOUT_SECONDS": "x"})
    text = str(raised.value)
    assert "RETRY_THRESHOLD" in text
    assert "BATCH_AUTH" in text
    assert text.count("HTTP_TIMEOUT_SECONDS") == 1  # read by both, reported once


def test_every_variable_the_template_gives_a_function_is_one_its_settings_declare() -> None:
    """One declaration per variable: the template, the settings and the reference cannot drift apart."""
    from dataclasses import fields

    from sidekiq_watch.local_invoke import function_spec, load_template
    from sidekiq_watch.settings import BatchSettings, PollerSettings
    from tests.conftest import ROOT

    for name, function, settings in (
        ("template.yaml", "PollerFunction", PollerSettings),
        ("template.yaml", "SlackActionsFunction", PollerSettings),
        ("batch-notifications.yaml", "BatchNotificationsFunction", BatchSettings),
    ):
        spec = function_spec(load_template(ROOT / name), function)
        given = {name for name in {*spec.environment, *spec.unresolved} if not name.startswith("POWERTOOLS_")}
        declared = {f.metadata["variable"] for f in fields(settings)}
        assert given - declared == set(), function


def test_a_batch_token_header_that_is_no_header_name_is_refused_naming_it() -> None:
    """Was accepted, and then no request could ever carry it: every callback got 401."""
    with pytest.raises(ConfigError, match="BATCH_AUTH_TOKEN_HEADER: not a valid header name 'X-Token:'"):
        load_batch_settings({"BATCH_AUTH_TOKEN": "s3cr3t-t", "BATCH_AUTH_TOKEN_HEADER": "X-Token: "})
