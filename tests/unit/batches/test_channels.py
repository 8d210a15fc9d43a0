"""Each channel's request: what is sent, where, with which credentials."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
import responses

from sidekiq_watch.batches.render import batch_message
from sidekiq_watch.channels import Resources, build_channel
from sidekiq_watch.errors import ConfigError, DeliveryError
from tests.unit.batches.helpers import sample_event

EVENT = sample_event()
SLACK = "https://hooks.slack.com/services/T0/B0/batch-s3cret"


def resources() -> Resources:
    return Resources(timeout=2, web_url="https://app.example.com/sidekiq")


def deliver(kind: str, options: dict[str, Any]) -> str:
    message = batch_message(EVENT, "https://app.example.com/sidekiq")
    return build_channel(kind, options, f"channels.{kind}").deliver(message, resources())


@responses.activate
def test_slack_gets_block_kit_with_counts_and_first_failures() -> None:
    responses.post(SLACK, body="ok")
    deliver("slack", {"webhook_url": SLACK, "channel": "#batches"})
    body = json.loads(responses.calls[0].request.body)
    assert body["channel"] == "#batches"
    assert body["text"] == "📦 Sidekiq batch a8b2c1d4e5f60718 (Nightly import of customer records) complete"
    assert [f["text"] for f in body["blocks"][1]["fields"]] == [
        "*Total*\n50",
        "*Failures*\n2",
        "*Pending*\n2",
    ]
    assert "StandardError: Something failed" in body["blocks"][2]["text"]["text"]
    assert (
        "https://app.example.com/sidekiq/batches/a8b2c1d4e5f60718" in body["blocks"][3]["elements"][0]["text"]
    )


@responses.activate
def test_webhook_posts_the_payload_with_basic_auth_and_headers() -> None:
    responses.post("https://hooks.example.com/batches", status=204)
    detail = deliver(
        "webhook",
        {
            "url": "https://hooks.example.com/batches",
            "username": "u",
            "password": "s3cr3t-p",
            "headers": {"X-Team": "data"},
        },
    )
    request = responses.calls[0].request
    sent = json.loads(request.body)
    assert (sent["bid"], sent["event"], sent["failures"]) == ("a8b2c1d4e5f60718", "complete", 2)
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"u:s3cr3t-p").decode()
    assert request.headers["X-Team"] == "data"
    assert detail == "HTTP 204"


@responses.activate
def test_webhook_can_send_the_rendered_summary() -> None:
    responses.post("https://hooks.example.com/b", body="ok")
    deliver("webhook", {"url": "https://hooks.example.com/b", "body": "rendered"})
    sent = json.loads(responses.calls[0].request.body)
    assert sent["title"] == "Sidekiq batch a8b2c1d4e5f60718 (Nightly import of customer records) complete"


@responses.activate
def test_campfire_bot_url_gets_a_text_body() -> None:
    url = "https://campfire.example.com/rooms/4/12-abcDEF/messages"
    responses.post(url, status=201)
    deliver("campfire", {"url": url})
    request = responses.calls[0].request
    assert request.headers["Content-Type"].startswith("text/plain")
    assert request.body.decode().startswith("Sidekiq batch a8b2c1d4e5f60718")


@responses.activate
def test_classic_campfire_speaks_with_the_token() -> None:
    url = "https://acmecorp.campfirenow.com/room/111111/speak.json"
    responses.post(url, status=201)
    deliver("campfire", {"subdomain": "acmecorp", "room_id": 111111, "token": "s3cr3t-417"})
    request = responses.calls[0].request
    assert json.loads(request.body)["message"]["type"] == "TextMessage"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"s3cr3t-417:X").decode()


@responses.activate
def test_hipchat_room_notification_v2() -> None:
    url = "https://chat.example.com/v2/room/111111/notification"
    responses.post(url, status=204)
    deliver("hipchat", {"server": "https://chat.example.com", "room_id": "111111", "token": "s3cr3t-0a01"})
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Bearer s3cr3t-0a01"
    body = json.loads(request.body)
    assert (body["color"], body["notify"], body["message_format"]) == ("red", True, "text")


@responses.activate
def test_teams_gets_an_adaptive_card() -> None:
    url = "https://example.webhook.office.com/webhookb2/abc"
    responses.post(url, body="1")
    deliver("teams", {"webhook_url": url})
    body = json.loads(responses.calls[0].request.body)
    card = body["attachments"][0]["content"]
    assert body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["type"] == "AdaptiveCard"
    assert {"title": "Failures", "value": "2"} in card["body"][1]["facts"]
    assert card["actions"][0]["url"] == "https://app.example.com/sidekiq/batches/a8b2c1d4e5f60718"


def test_email_goes_through_ses_with_text_and_html(aws: None) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
    detail = deliver(
        "email",
        {
            "from": "batches@example.com",
            "to": ["ops@example.com"],
            "cc": "lead@example.com",
            "subject": "[{event}] {description}",
        },
    )
    [message] = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert message.source == "batches@example.com"
    assert message.destinations["ToAddresses"] == ["ops@example.com"]
    assert message.destinations["CcAddresses"] == ["lead@example.com"]
    assert message.subject == "[complete] Nightly import of customer records"
    assert "<code>6ea2b3a2f1c4d5e6f7a8b9c0: StandardError: Something failed</code>" in message.body
    assert detail.startswith("SES message ")


def test_ses_rejecting_an_unverified_sender_is_permanent(aws: None) -> None:
    with pytest.raises(DeliveryError, match="MessageRejected") as caught:
        deliver("email", {"from": "nobody@unverified.example", "to": ["ops@example.com"]})
    assert caught.value.permanent


def test_sns_publishes_the_payload_with_attributes(aws: None) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="batches")["TopicArn"]
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    deliver("sns", {"topic_arn": topic})
    [received] = sqs.receive_message(QueueUrl=queue)["Messages"]
    envelope = json.loads(received["Body"])
    assert json.loads(envelope["Message"])["bid"] == "a8b2c1d4e5f60718"
    assert envelope["MessageAttributes"]["event"]["Value"] == "complete"
    assert envelope["Subject"].startswith("Sidekiq batch a8b2c1d4e5f60718")


@responses.activate
@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (403, True), (404, True), (410, True), (429, False), (500, False), (503, False)],
)
def test_http_channel_failures_say_whether_a_retry_can_help(
    status: int, permanent: bool, no_sleep: list[float]
) -> None:
    responses.post("https://hooks.example.com/b", status=status, body="nope")
    with pytest.raises(DeliveryError) as caught:
        deliver("webhook", {"url": "https://hooks.example.com/b"})
    assert caught.value.permanent is permanent
    assert len(responses.calls) == (1 if permanent else 3)


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("slack", {}, r"channels.slack.webhook_url: required"),
        ("email", {"from": "a@example.com"}, r"channels.email.to: required"),
        (
            "email",
            {"from": "a@example.com", "to": "not-an-address"},
            r"channels.email.to: expected an e-mail",
        ),
        ("campfire", {"subdomain": "x"}, "give url"),
        ("hipchat", {"token": "t"}, r"channels.hipchat.room_id: required"),
        ("sns", {"topic_arn": "batches"}, "expected an SNS topic ARN"),
        ("webhook", {"url": "https://h/b", "colour": 1}, r"unknown option\(s\) colour"),
        ("pager", {}, "unknown channel type 'pager'"),
    ],
)
def test_bad_channel_options_name_the_channel_and_field(
    kind: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build_channel(kind, options, f"channels.{kind}")
