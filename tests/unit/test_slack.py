import json

import pytest
import requests
import responses

from sidekiq_watch.alerts.receivers import dry_run_channel
from sidekiq_watch.channels import Resources
from sidekiq_watch.channels.message import Message, Severity
from sidekiq_watch.channels.slack import SlackWebhook, escape_mrkdwn, message_overrides, slack_payload
from sidekiq_watch.errors import DeliveryError
from sidekiq_watch.secrets import Secret
from tests.conftest import SECRET_WEBHOOK

PAYLOAD = {"text": "hello", "blocks": []}


def webhook(**kwargs: object) -> SlackWebhook:
    return SlackWebhook(Secret("SLACK_WEBHOOK_URL", SECRET_WEBHOOK), timeout=2, **kwargs)  # type: ignore[arg-type]


@responses.activate
def test_2xx_posts_the_payload_as_json() -> None:
    responses.post(SECRET_WEBHOOK, body="ok")
    webhook(overrides={"channel": "#ops"}).post(PAYLOAD)
    [call] = responses.calls
    assert json.loads(call.request.body) == {"channel": "#ops", "text": "hello", "blocks": []}
    assert call.request.headers["Content-Type"].startswith("application/json")


@responses.activate
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "invalid_payload"),
        (403, "invalid_token"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ],
)
def test_4xx_is_permanent_and_not_retried(status: int, error: str, no_sleep: list[float]) -> None:
    responses.post(SECRET_WEBHOOK, status=status, body=error)
    with pytest.raises(DeliveryError) as caught:
        webhook().post(PAYLOAD)
    assert caught.value.permanent
    assert (caught.value.status, caught.value.remote_error) == (status, error)
    assert error in str(caught.value)
    assert len(responses.calls) == 1


@responses.activate
def test_429_waits_for_retry_after_then_posts(no_sleep: list[float]) -> None:
    responses.post(SECRET_WEBHOOK, status=429, headers={"Retry-After": "7"}, body="rate_limited")
    responses.post(SECRET_WEBHOOK, body="ok")
    webhook().post(PAYLOAD)
    assert no_sleep == [7.0]
    assert len(responses.calls) == 2


@responses.activate
def test_429_asking_for_a_longer_wait_than_allowed_is_transient(no_sleep: list[float]) -> None:
    responses.post(SECRET_WEBHOOK, status=429, headers={"Retry-After": "3600"}, body="rate_limited")
    with pytest.raises(DeliveryError) as caught:
        webhook().post(PAYLOAD)
    assert not caught.value.permanent
    assert len(responses.calls) == 1
    assert no_sleep == []


@responses.activate
def test_5xx_is_retried_a_bounded_number_of_times_then_transient(no_sleep: list[float]) -> None:
    responses.post(SECRET_WEBHOOK, status=503, body="service unavailable")
    with pytest.raises(DeliveryError, match="will be retried") as caught:
        webhook().post(PAYLOAD)
    assert not caught.value.permanent
    assert len(responses.calls) == 3
    assert len(no_sleep) == 2


@responses.activate
def test_network_error_is_transient_and_hides_the_url(no_sleep: list[float]) -> None:
    responses.post(
        SECRET_WEBHOOK,
        body=requests.ConnectionError(
            f"Max retries exceeded with url: {SECRET_WEBHOOK} (Connection refused)"
        ),
    )
    with pytest.raises(DeliveryError) as caught:
        webhook().post(PAYLOAD)
    assert not caught.value.permanent
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_secret_repr_hides_the_value() -> None:
    secret = Secret("SLACK_WEBHOOK_URL", SECRET_WEBHOOK)
    assert "s3cr3t" not in repr(secret)
    assert "s3cr3t" not in str(secret)


def test_dry_run_prints_the_payload(capsys: pytest.CaptureFixture[str]) -> None:
    message = Message("k", "hello", "hello", Severity.INFO)
    dry_run_channel().deliver(message, Resources())
    out = capsys.readouterr().out
    assert "dry run" in out
    assert json.loads(out.split("\n", 1)[1]) == slack_payload(message)


def test_escape_mrkdwn_defuses_mentions_and_links() -> None:
    assert escape_mrkdwn("<!channel> <@U123> <http://evil|bank> & co") == (
        "&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|bank&gt; &amp; co"
    )


def test_overrides_only_include_what_is_set() -> None:
    assert message_overrides("#ops", None, None) == {"channel": "#ops"}
