"""The Lambda handler, driven by the same events/ files a user gives `sam local invoke`."""

import json

import boto3
import pytest
import responses

from sidekiq_watch.handlers import poller
from sidekiq_watch.local_invoke import FunctionSpec, LocalContext
from tests.conftest import EVENTS, SECRET_WEBHOOK, load_event

STATS_URL = "https://app.example.com/sidekiq/stats"


def fresh_context() -> LocalContext:
    """A new context per invocation, as Lambda gives: its remaining time counts from now."""
    return LocalContext(FunctionSpec("PollerFunction", "", 60, 256, {}, []))


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, aws: None) -> None:
    boto3.client("ssm").put_parameter(Name="/sidekiq-watch/slack", Value=SECRET_WEBHOOK, Type="SecureString")
    monkeypatch.setenv("SIDEKIQ_STATS_URL", STATS_URL)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "ssm:/sidekiq-watch/slack")


def stats_body(name: str) -> bytes:
    return (EVENTS / "stats" / name).read_bytes()


@responses.activate
def test_scheduled_event_posts_to_slack_when_retries_exceed_threshold(configured: None) -> None:
    responses.get(STATS_URL, body=stats_body("sidekiq-web-stats.json"), content_type="application/json")
    responses.post(SECRET_WEBHOOK, body="ok")
    [result] = poller.handler(load_event("scheduled.json"), fresh_context())["targets"]
    assert result["delivery"] == "posted to Slack"
    assert result["findings"] == [
        {"rule": "retries > 50", "status": "firing", "value": 61, "severity": "critical"},
        {"rule": "processes < 1", "status": "ok", "value": 2, "severity": None},
    ]
    posted = json.loads(responses.calls[1].request.body)
    assert "retries is 61" in posted["text"]


@responses.activate
def test_figures_are_published_as_emf_metrics_by_source_when_asked(
    configured: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISH_METRICS", "targets")
    responses.get(STATS_URL, body=stats_body("sidekiq-web-stats.json"), content_type="application/json")
    responses.post(SECRET_WEBHOOK, body="ok")
    poller.handler(load_event("scheduled.json"), fresh_context())
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    [main] = [b for b in blobs if "retries" in b]
    assert (main["retries"], main["dead"], main["default_latency"], main["source"]) == (
        [61.0],
        [4.0],
        [1.53],
        "app.example.com",
    )


@responses.activate
def test_slack_rejection_does_not_fail_the_invocation(configured: None) -> None:
    responses.get(STATS_URL, body=stats_body("handwritten.json"), content_type="application/json")
    responses.post(SECRET_WEBHOOK, status=404, body="no_service")
    [result] = poller.handler(load_event("scheduled.json"), fresh_context())["targets"]
    assert result["delivery"].startswith("rejected: Slack webhook (hooks.slack.com): HTTP 404")
    assert "(no_service: the webhook was removed" in result["delivery"]


@responses.activate
def test_webhook_url_never_reaches_the_logs(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(STATS_URL, body=stats_body("handwritten.json"), content_type="application/json")
    responses.post(SECRET_WEBHOOK, status=404, body="no_service")
    poller.handler(load_event("scheduled.json"), fresh_context())
    captured = capsys.readouterr()
    assert "s3cr3t" not in captured.out + captured.err


def test_bad_configuration_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIDEKIQ_STATS_URL", STATS_URL)
    monkeypatch.setenv("RETRY_THRESHOLD", "lots")
    with pytest.raises(Exception, match="RETRY_THRESHOLD"):
        poller.handler(load_event("scheduled.json"), fresh_context())
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m.get("ConfigurationErrors") for m in emitted] == [[1.0]]


@responses.activate
def test_state_in_dynamodb_keeps_a_second_invocation_quiet(
    configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.aws import create_state_table

    monkeypatch.setenv("STATE_TABLE", create_state_table())
    responses.get(STATS_URL, body=stats_body("sidekiq-web-stats.json"), content_type="application/json")
    responses.post(SECRET_WEBHOOK, body="ok")
    first = poller.handler(load_event("scheduled.json"), fresh_context())["targets"][0]
    second = poller.handler(load_event("scheduled.json"), fresh_context())["targets"][0]
    assert first["notices"] == [{"notice": "firing", "rule": "retries > 50"}]
    assert second["notices"] == []
    assert len(responses.calls) == 3  # two stats reads, one Slack post
    item = boto3.client("dynamodb").get_item(
        TableName="sidekiq-watch-state",
        Key={"pk": {"S": "app.example.com"}, "sk": {"S": "alert#retries > 50"}},
    )["Item"]
    assert (item["status"]["S"], item["version"]["N"]) == ("firing", "2")


@responses.activate
def test_transient_slack_failure_fails_the_invocation_for_lambda_to_retry(
    configured: None, no_sleep: list[float]
) -> None:
    from sidekiq_watch.errors import DeliveryError

    responses.get(STATS_URL, body=stats_body("handwritten.json"), content_type="application/json")
    responses.post(SECRET_WEBHOOK, status=503, body="unavailable")
    with pytest.raises(DeliveryError, match="will be retried"):
        poller.handler(load_event("scheduled.json"), fresh_context())


@responses.activate
def test_a_source_never_read_does_not_count_as_up(
    configured: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state cannot be loaded (no such table): whatever happens, SourceUp 1 comes only with figures."""
    responses.get(STATS_URL, body=stats_body("sidekiq-web-stats.json"), content_type="application/json")
    monkeypatch.setenv("STATE_TABLE", "no-such-table")
    with pytest.raises(Exception):  # noqa: B017, PT011 - the invocation fails: that is not the point here
        poller.handler(load_event("scheduled.json"), fresh_context())
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    for blob in blobs:
        if blob.get("SourceUp") == [1.0]:
            assert "retries" in blob, blob


# What the default deployment may declare as custom metrics ($0.30 a month each): none per target,
# and none at all while polls succeed. Raising this is a price change: say so in README's cost table.
DEFAULT_METRICS_BUDGET = 0


@responses.activate
def test_a_default_poll_declares_no_custom_metric(
    configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    responses.get(STATS_URL, body=stats_body("sidekiq-web-stats.json"), content_type="application/json")
    responses.post(SECRET_WEBHOOK, body="ok")
    for _ in range(2):
        report = poller.handler(load_event("scheduled.json"), fresh_context())
    out = capsys.readouterr().out
    declared = {
        (d["Namespace"], m["Name"], tuple(sorted((k, blob[k]) for k in dims)))
        for line in out.splitlines()
        if line.startswith('{"_aws"')
        for blob in [json.loads(line)]
        for d in blob["_aws"]["CloudWatchMetrics"]
        for m in d["Metrics"]
        for dims in d["Dimensions"]
    }
    assert len(declared) <= DEFAULT_METRICS_BUDGET, declared
    assert report["targets"][0]["figures"]["retries"] == 61  # what the log record carries, as properties


@responses.activate
def test_the_configuration_document_asks_for_metrics_without_an_environment_variable(
    configured: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deployed, PUBLISH_METRICS is no template parameter any more: the document says it."""
    boto3.client("ssm").put_parameter(
        Name="/sidekiq-watch/config", Value='{"publish_metrics": "targets"}', Type="String"
    )
    monkeypatch.setenv("SIDEKIQ_WATCH_CONFIG", "ssm:/sidekiq-watch/config")
    responses.get(STATS_URL, body=stats_body("sidekiq-web-stats.json"), content_type="application/json")
    responses.post(SECRET_WEBHOOK, body="ok")
    poller.handler(load_event("scheduled.json"), fresh_context())
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [b["retries"] for b in blobs if "retries" in b] == [[61.0]]
