"""One channel layer: an alert and a batch event are both a neutral Message, and every channel kind
delivers either (issue 26). Neither side knows the other's message; each kind renders its own format."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import responses

from sidekiq_watch.alerts.history import History
from sidekiq_watch.alerts.lifecycle import AlertRecord, decide
from sidekiq_watch.alerts.messages import TargetView, render_notices
from sidekiq_watch.alerts.rules import evaluate, parse_rule
from sidekiq_watch.batches.render import batch_message
from sidekiq_watch.channels import KINDS, Resources, build_channel
from sidekiq_watch.channels.message import Message, Severity, as_html, as_plain_text
from sidekiq_watch.channels.slack import slack_payload
from tests.unit.batches.helpers import sample_event

HOOK = "https://hooks.example.com/alerts"
VIEW = TargetView("shop<!channel>", "https://shop.example.com/sidekiq", 1_700_000_000.0)


def alert(value: float = 70.0) -> Message:
    rules = [parse_rule({"figure": "retries", "warning": 50, "critical": 100}, "rules[0]")]
    [finding] = evaluate({"retries": value}, rules)
    return render_notices(
        VIEW, [decide(AlertRecord("shop", finding.key), finding, VIEW.checked_at, 3600)], History()
    )


def test_an_alert_is_a_neutral_message_with_a_stable_key_and_its_severity() -> None:
    warning, critical = alert(70.0), alert(150.0)
    assert warning.key == critical.key == "sidekiq-watch/shop<!channel>/retries > 50/100"
    assert (warning.severity, critical.severity) == (Severity.WARNING, Severity.CRITICAL)
    assert warning.labels == {"target": "shop<!channel>", "status": "firing"}
    assert warning.document["notices"][0]["value"] == 70.0


def test_every_kind_is_registered_once_and_delivers_a_message() -> None:
    assert set(KINDS) >= {"slack", "teams", "email", "webhook", "sns", "campfire", "hipchat", "print"}


@responses.activate
def test_an_alert_reaches_a_teams_channel_as_an_adaptive_card() -> None:
    responses.post(HOOK, body="1")
    build_channel("teams", {"webhook_url": HOOK}, "receivers.teams").deliver(alert(), Resources(timeout=2))
    card = json.loads(responses.calls[0].request.body)["attachments"][0]["content"]
    texts = [block.get("text", "") for block in card["body"]]
    assert texts[0] == "Sidekiq alert: shop<!channel>"
    assert any("retries is 70" in text for text in texts)
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Retries", "url": f"{VIEW.web_url}/retries"}
    ]


@responses.activate
def test_an_alert_reaches_a_webhook_as_its_document_or_its_words() -> None:
    responses.post(HOOK, body="ok")
    build_channel("webhook", {"url": HOOK}, "receivers.hook").deliver(alert(), Resources(timeout=2))
    build_channel("webhook", {"url": HOOK, "body": "rendered"}, "receivers.hook").deliver(
        alert(), Resources(timeout=2)
    )
    document, rendered = (json.loads(call.request.body) for call in responses.calls)
    assert document["notices"][0]["rule"] == "retries > 50/100"
    assert rendered["target"] == "shop<!channel>"
    assert "retries is 70 (threshold > 50)" in rendered["text"]


@pytest.mark.usefixtures("aws")
def test_an_alert_reaches_e_mail_and_sns_with_its_labels() -> None:
    boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
    topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
    queue = boto3.client("sqs").create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = boto3.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    boto3.client("sns").subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"]
    )
    email = {"from": "watch@example.com", "to": "ops@example.com"}
    assert build_channel("email", email, "receivers.mail").deliver(alert(), Resources()).startswith("SES")
    build_channel("sns", {"topic_arn": topic}, "receivers.sns").deliver(alert(), Resources())
    [received] = boto3.client("sqs").receive_message(QueueUrl=queue)["Messages"]
    envelope: dict[str, Any] = json.loads(received["Body"])
    assert envelope["Subject"] == "Sidekiq alert: shop<!channel>"
    assert envelope["MessageAttributes"]["target"]["Value"] == "shop<!channel>"
    assert json.loads(envelope["Message"])["target"] == "shop<!channel>"


def test_the_plain_and_html_forms_keep_untrusted_text_as_text() -> None:
    message = alert()
    assert "retries is 70" in as_plain_text(message)
    page = as_html(message)
    assert "<!channel>" not in page
    assert "shop&lt;!channel&gt;" in page
    assert "<b>70</b>" in page


def test_a_batch_event_is_the_same_kind_of_message() -> None:
    message = batch_message(sample_event(), "https://app.example.com/sidekiq")
    assert message.key.startswith("batch/")
    assert message.labels["event"] in ("complete", "success")
    assert message.links[0].url.startswith("https://app.example.com/sidekiq/batches/")


def test_the_runbook_and_description_reach_every_form() -> None:
    rules = [
        parse_rule(
            {
                "figure": "retries",
                "critical": 50,
                "runbook": "https://wiki.example.com/runbooks/retries",
                "description": "Jobs keep failing & retrying",
            },
            "rules[0]",
        )
    ]
    [finding] = evaluate({"retries": 70.0}, rules)
    message = render_notices(VIEW, [decide(AlertRecord("shop", finding.key), finding, 0.0, 3600)], History())
    slack = json.dumps(slack_payload(message))
    assert "<https://wiki.example.com/runbooks/retries|Runbook>" in slack
    assert "Jobs keep failing &amp; retrying" in slack
    assert "Runbook (https://wiki.example.com/runbooks/retries)" in as_plain_text(message)
    assert "<a href='https://wiki.example.com/runbooks/retries'>Runbook</a>" in as_html(message)


@pytest.mark.parametrize("runbook", ["javascript:alert(1)", "wiki/runbook", "https://x.example/a b", 5])
def test_a_runbook_is_an_http_url(runbook: object) -> None:
    from sidekiq_watch.errors import ConfigError

    with pytest.raises(ConfigError, match=r"rules\[0\]: runbook: expected an http\(s\):// URL"):
        parse_rule({"figure": "retries", "critical": 5, "runbook": runbook}, "rules[0]")
