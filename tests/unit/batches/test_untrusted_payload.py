"""Every field of a batch payload is untrusted: it reaches links, markup and JSON consumers inert."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.intake import IncomingRequest, Reply, parse_request, receive
from sidekiq_watch.batches.payload import BatchEvent, BatchStatus
from sidekiq_watch.batches.render import batch_message
from sidekiq_watch.channels import Resources
from sidekiq_watch.channels.chat import adaptive_card
from sidekiq_watch.channels.message import Message, as_html
from sidekiq_watch.channels.slack import slack_payload
from sidekiq_watch.settings import load_batch_settings
from tests.conftest import load_event

WEB = "https://app.example.com/sidekiq"
SETTINGS = load_batch_settings({"BATCH_AUTH_TOKEN": "s3cr3t-token"}).admission
HEADERS = {"Authorization": "Bearer s3cr3t-token", "Content-Type": "application/json"}
INJECTIONS = ("x><!channel>", "<https://evil.example|click>", "a|b>c", "<@U024BE7LH>", "&lt;!here&gt;")


def event_with(**fields: Any) -> BatchEvent:
    return BatchEvent(BatchStatus.model_validate({"bid": "b1", **fields}), "complete")


def links_in(mrkdwn: str) -> list[str]:
    """What Slack would parse as <…> control sequences in a mrkdwn text."""
    found, rest = [], mrkdwn
    while "<" in rest:
        rest = rest.split("<", 1)[1]
        found.append(rest.split(">", 1)[0])
    return found


def mrkdwn_texts(payload: Any) -> list[str]:
    if isinstance(payload, dict):
        texts = [payload["text"]] if payload.get("type") == "mrkdwn" else []
        return texts + [t for value in payload.values() for t in mrkdwn_texts(value)]
    if isinstance(payload, list):
        return [t for value in payload for t in mrkdwn_texts(value)]
    return []


@pytest.mark.parametrize("bid", ["x><!channel>", "x|<https://evil.example|click>", "a>b"])
def test_a_hostile_bid_cannot_open_a_second_link_in_slack(bid: str) -> None:
    payload = slack_payload(batch_message(event_with(bid=bid), WEB))
    for text in mrkdwn_texts(payload):
        for link in links_in(text):
            assert link.startswith(f"{WEB}/batches/"), text
            url, _, label = link.partition("|")
            assert not set(url) & set("<>|")
            assert label == "Batch in Sidekiq Web"
    assert "<!channel>" not in json.dumps(payload)


def test_the_batch_link_quotes_the_bid() -> None:
    payload = json.dumps(slack_payload(batch_message(event_with(bid="x><!channel>"), WEB)))
    assert f"{WEB}/batches/x%3E%3C%21channel%3E" in payload


@pytest.mark.parametrize("text", INJECTIONS)
@pytest.mark.parametrize("field", ["bid", "description", "jid", "error_class", "error_message", "backtrace"])
def test_no_field_reaches_slack_as_markup(field: str, text: str) -> None:
    value = text.replace(" ", "")
    if field == "backtrace":
        event = event_with(failures=1, failure_info=[{"error_message": "m", "backtrace": [value]}])
    elif field in ("jid", "error_class", "error_message", "backtrace"):
        event = event_with(failures=1, failure_info=[{field: value}])
    else:
        event = event_with(**{field: value})
    for mrkdwn in mrkdwn_texts(slack_payload(batch_message(event, WEB))):
        for link in links_in(mrkdwn):
            assert link.startswith(f"{WEB}/batches/"), (field, mrkdwn)


def test_a_hostile_bid_stays_inside_the_html_link_and_text() -> None:
    body = as_html(batch_message(event_with(bid="x'><script>alert(1)</script>", description="<b>d</b>"), WEB))
    assert "<script>" not in body
    assert "<b>d</b>" not in body
    assert "href='https://app.example.com/sidekiq/batches/x%27%3E%3Cscript%3E" in body


def test_the_teams_card_links_to_a_quoted_bid() -> None:
    card = adaptive_card(batch_message(event_with(bid="a/../c?d#e%"), WEB))
    [action] = card["attachments"][0]["content"]["actions"]
    assert action["url"] == f"{WEB}/batches/a%2F..%2Fc%3Fd%23e%25"


def request(document: Any) -> BatchEvent | Reply:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse_request(SETTINGS, IncomingRequest(HEADERS, body))


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def test_an_extra_field_nested_deeper_than_the_limit_is_refused_naming_it() -> None:
    reply = request({"bid": "b", "meta": nested(256)})
    assert isinstance(reply, Reply)
    assert reply.status == 422
    assert "meta" in json.dumps(reply.body)
    assert "deep" in reply.body["error"]


def test_extra_fields_of_reasonable_depth_are_kept() -> None:
    parsed = request({"bid": "b", "meta": {"a": {"b": [1, 2, {"c": "d"}]}}})
    assert isinstance(parsed, BatchEvent)
    assert parsed.status.model_dump()["meta"] == {"a": {"b": [1, 2, {"c": "d"}]}}


def test_an_integer_longer_than_python_converts_is_a_400() -> None:
    reply = request(b'{"bid": "b", "total": ' + b"9" * 5000 + b"}")
    assert isinstance(reply, Reply)
    assert reply.status == 400


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity"])
def test_a_number_that_is_not_finite_is_refused(number: bytes) -> None:
    reply = request(b'{"bid": "b", "created_at": ' + number + b"}")
    assert isinstance(reply, Reply)
    assert 400 <= reply.status < 500


def test_an_infinite_number_in_an_extra_field_is_refused() -> None:
    reply = request(b'{"bid": "b", "meta": {"x": [1e999]}}')
    assert isinstance(reply, Reply)
    assert 400 <= reply.status < 500


class Exploding:
    """A channel whose code has a bug: it raises something nobody expected."""

    name = "broken"
    kind = "webhook"

    def deliver(self, message: Message, resources: Resources) -> str:
        raise ValueError("Circular reference detected")


class Recording:
    name = "fine"
    kind = "print"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def deliver(self, message: Message, resources: Resources) -> str:
        self.seen.append(message.labels["bid"])
        return "ok"


def test_a_channel_that_raises_unexpectedly_fails_alone(tmp_path: Path) -> None:
    config = parse_batch_config({"channels": {"fine": {"type": "print"}}}, "test")
    fine = Recording()
    route = config.routes[0] if config.routes else None
    assert route is not None
    object.__setattr__(route, "channels", (Exploding(), fine))
    log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
    reply = receive(SETTINGS, IncomingRequest(HEADERS, b'{"bid": "b"}'), lambda: config, Resources(), log)
    assert reply.status == 502
    outcomes = {d["channel"]: d["status"] for d in reply.body["deliveries"]}
    assert outcomes == {"broken": "failed", "fine": "delivered"}
    assert fine.seen == ["b"]
    assert "Circular" not in json.dumps(reply.body)  # the bug's words stay in the log


def test_a_deep_payload_reaching_a_webhook_is_never_a_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request that lost deliveries for good: a 4xx at intake, before any channel starts."""
    from sidekiq_watch.handlers import batch_webhook
    from sidekiq_watch.local_invoke import FunctionSpec, LocalContext

    body = json.dumps({"bid": "b", "meta": nested(256)})
    event = load_event("batch-complete-with-failures.json")
    event["headers"]["authorization"] = HEADERS["Authorization"]
    event.update(body=base64.b64encode(body.encode()).decode(), isBase64Encoded=True)
    monkeypatch.setenv("BATCH_AUTH_TOKEN", "s3cr3t-token")
    monkeypatch.setenv("BATCH_CONFIG", str(tmp_path / "b.yaml"))
    (tmp_path / "b.yaml").write_text("channels:\n  hook:\n    type: webhook\n    url: https://h.example/x\n")
    context = LocalContext(FunctionSpec("BatchNotificationsFunction", "", 30, 256, {}, []))
    result = batch_webhook.handler(event, context)
    assert result["statusCode"] == 422
