"""What a batch may choose is judged on the parsed value (issue 23, items 1 to 4): a destination's
scheme, host, port and normalised path, an e-mail address's domain. Every form the outside attack
used to reach a foreign host with the channel's credentials is a 422 and nothing is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.intake import IncomingRequest, Reply, receive
from sidekiq_watch.channels import Resources
from sidekiq_watch.errors import ConfigError
from sidekiq_watch.settings import load_batch_settings

PASSWORD = "s3cr3t-basic-password"
CONFIG = parse_batch_config(
    {
        "channels": {
            "hook": {
                "type": "webhook",
                "url": "https://hooks.example.com/default",
                "username": "sidekiq",
                "password": PASSWORD,
                "headers": {"X-Secret": "s3cr3t-header"},
                "allow_destinations": ["http://*.example.com/*", "http://127.0.0.1:8080/teams/*"],
            },
            "chat": {
                "type": "hipchat",
                "room_id": "ops",
                "token": "s3cr3t-hipchat-token",
                "allow_destinations": ["https://chat.example.com/*"],
            },
            "mail": {
                "type": "email",
                "from": "sidekiq@example.com",
                "to": "ops@example.com",
                "allow_recipients": ["*@example.com", "oncall+*@*.example.org"],
            },
            "plain_mail": {"type": "email", "from": "sidekiq@example.com", "to": "ops@example.com"},
            "fire": {"type": "campfire", "subdomain": "acme", "room_id": "1", "token": "s3cr3t-cf"},
            "topic": {
                "type": "sns",
                "topic_arn": "arn:aws:sns:eu-west-1:123456789012:batches",
                "allow_destinations": ["arn:aws:sns:eu-west-1:123456789012:batches-*"],
            },
        },
        "routes": [{"name": "none", "bid": "never-*", "channels": ["hook"]}],
    },
    "test",
)
SETTINGS = load_batch_settings({"BATCH_AUTH": "none"}).admission


def send(tmp_path: Path, notify: dict[str, Any], **fields: Any) -> Reply:
    body = json.dumps({"bid": "b1", "pending": 0, "notify": notify, **fields}).encode()
    log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
    return receive(SETTINGS, IncomingRequest({}, body), lambda: CONFIG, Resources(timeout=2), log)


BYPASSES = [
    "http://127.0.0.1:9/.example.com/x",
    "http://127.0.0.1:9?.example.com/x",
    "http://127.0.0.1:9#.example.com/x",
    "http://127.0.0.1:9\\.example.com/x",
    "http://hooks.example.com@127.0.0.1:9/x",
    "http://hooks.example.com:x@127.0.0.1:9/",
    "http://127.0.0.1:8080/teams/../../admin",
    "http://127.0.0.1:8080/teams/%2e%2e/%2e%2e/admin",
    "http://127.0.0.1:8080/teams/..%2f..%2fadmin",
    "http://example.com/x",  # *. is below the domain, never the domain itself
    "http://evilexample.com/x",  # a label boundary, not a string suffix
    "http://hooks.example.com./x",
    "http://hooks.example.com:8443/x",  # the port is the scheme's default unless the pattern names one
    "https://hooks.example.com/x",  # the scheme is exact
    "http://HOOKS.EXAMPLE.COM.evil.net/x",
]


@pytest.mark.parametrize("url", BYPASSES)
@responses.activate
def test_a_destination_outside_the_patterns_is_refused_whatever_its_spelling(
    tmp_path: Path, url: str
) -> None:
    reply = send(tmp_path, {"hook": {"url": url}})
    assert reply.status == 422, reply.body
    assert any("notify.hook.url" in d["problem"] for d in reply.body["details"])
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/x", "http://a.b.example.com/deep/path?q=1", "http://HOOKS.Example.com/x"],
)
@responses.activate
def test_a_destination_inside_the_patterns_gets_the_channels_credentials(tmp_path: Path, url: str) -> None:
    responses.post(url.lower() if "HOOKS" in url else url, status=204)
    reply = send(tmp_path, {"hook": {"url": url}})
    assert reply.status == 200, reply.body
    assert responses.calls[0].request.headers["X-Secret"] == "s3cr3t-header"


@responses.activate
def test_an_internal_address_only_where_a_pattern_names_it_literally(tmp_path: Path) -> None:
    responses.post("http://127.0.0.1:8080/teams/imports", status=204)
    assert send(tmp_path, {"hook": {"url": "http://127.0.0.1:8080/teams/imports"}}).status == 200
    wildcard = parse_batch_config(
        {
            "channels": {
                "hook": {
                    "type": "webhook",
                    "url": "https://x.example.com/",
                    "allow_destinations": ["http://*.example.com/*"],
                }
            }
        },
        "t",
    )
    for internal in ("localhost.example.com", "10.0.0.1"):
        assert wildcard.allow_destinations["hook"].allows("url", f"http://{internal}/x") is (
            internal == "localhost.example.com"
        )


@pytest.mark.parametrize(
    "server",
    ["https://127.0.0.1:9", "https://chat.example.com@127.0.0.1:9", "https://chat.example.com.evil.net"],
)
@responses.activate
def test_hipchat_server_chosen_by_a_batch_follows_the_patterns(tmp_path: Path, server: str) -> None:
    reply = send(tmp_path, {"chat": {"server": server}})
    assert reply.status == 422, reply.body
    assert len(responses.calls) == 0


@pytest.mark.parametrize("room", ["1/../../x", "../authorization", "1?x=1", "12a"])
@responses.activate
def test_a_campfire_room_is_a_number(tmp_path: Path, room: str) -> None:
    reply = send(tmp_path, {"fire": {"room_id": room}})
    assert reply.status == 422, reply.body
    assert any("notify.fire" in d["problem"] and "room_id" in d["problem"] for d in reply.body["details"])
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("to", "attacker@evil.example"),
        ("cc", ["ops@example.com", "attacker@evil.example"]),
        ("bcc", "x@example.com.evil.example"),
        ("to", [f"user{i}@example.com" for i in range(3000)]),
        ("to", "ops@example.com\r\nBcc: attacker@evil.example"),
        ("reply_to", "a@example.com\nX: y"),
        ("to", "Ops <attacker@evil.example>, ops@example.com"),
    ],
)
def test_recipients_a_batch_chooses_must_match_allow_recipients(
    tmp_path: Path, option: str, value: Any
) -> None:
    reply = send(tmp_path, {"mail": {option: value}})
    assert reply.status == 422, reply.body
    [detail] = reply.body["details"]
    assert f"notify.mail.{option}" in detail["problem"]
    assert "evil" not in json.dumps(reply.body)


def test_without_allow_recipients_a_batch_chooses_no_recipient(tmp_path: Path) -> None:
    reply = send(tmp_path, {"plain_mail": {"to": "ops@example.com"}})
    assert reply.status == 422
    assert "allow_recipients" in reply.body["details"][0]["problem"]


def test_allowed_recipients_pass_on_the_domain_not_the_text() -> None:
    from sidekiq_watch.destinations import parse_recipients, recipient_allowed

    patterns = parse_recipients(["*@example.com", "oncall+*@*.example.org"], "t")
    assert recipient_allowed("Ops@EXAMPLE.com", patterns)
    assert recipient_allowed("oncall+db@eu.example.org", patterns)
    assert not recipient_allowed("oncall+db@example.org", patterns)
    assert not recipient_allowed("a@b@example.com", patterns)
    assert not recipient_allowed("x@evil.example?@example.com", patterns)


@pytest.mark.parametrize(
    ("arn", "allowed"),
    [
        ("arn:aws:sns:eu-west-1:123456789012:batches-imports", True),
        ("arn:aws:sns:eu-west-1:999999999999:batches-imports", False),
        ("arn:aws:sns:eu-west-1:123456789012:batches-x:extra", False),
    ],
)
def test_a_topic_follows_the_arn_pattern_part_by_part(arn: str, allowed: bool) -> None:
    assert CONFIG.allow_destinations["topic"].allows("topic_arn", arn) is allowed


@pytest.mark.parametrize(
    "pattern",
    [
        "http://*/x",
        "http://ho*ks.example.com/",
        "http://a.example.com/*/x",
        "ftp://a.example.com/",
        "http://u@a.example.com/",
    ],
)
def test_a_pattern_that_would_match_too_much_is_a_configuration_error_naming_it(pattern: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_batch_config(
            {
                "channels": {
                    "hook": {
                        "type": "webhook",
                        "url": "https://a.example.com/",
                        "allow_destinations": [pattern],
                    }
                }
            },
            "t",
        )
    assert "channels.hook.allow_destinations[0]" in str(caught.value)
    assert pattern in str(caught.value)


@pytest.mark.parametrize(
    "subject",
    ["{bid:>1099511627776}", "{bid:>100000000}", "{bid.__class__.__mro__}", "{0}", "{bid!r}"],
)
def test_a_subject_with_anything_but_the_placeholders_is_refused_naming_the_option(
    tmp_path: Path, subject: str
) -> None:
    reply = send(tmp_path, {"mail": {"subject": subject}})
    assert reply.status == 422, reply.body
    assert any("notify.mail.subject" in d["problem"] for d in reply.body["details"])


def test_a_subject_substitutes_the_placeholders_as_plain_text_on_one_bounded_line() -> None:
    from sidekiq_watch.channels.aws import MAX_SUBJECT_CHARS, fill_subject

    values = {
        "bid": "{title}",
        "title": "T",
        "event": "success",
        "description": "a\r\nBcc: x@evil" + "d" * 500,
    }
    assert fill_subject("[{event}] {bid} {{x}}", values) == "[success] {title} {x}"
    filled = fill_subject("{description}", values)
    assert "\n" not in filled
    assert "\r" not in filled
    assert len(filled) == MAX_SUBJECT_CHARS


@pytest.mark.parametrize("field", ['{"\\ud800": 1}', '{"x": "\\udfff"}', '{"x": {"\\ud83d": [1]}}'])
def test_text_that_is_not_unicode_is_refused_at_intake_naming_the_field(tmp_path: Path, field: str) -> None:
    document = json.loads(field)
    body = json.dumps({"bid": "b1", "pending": 0, "extra": document}).encode()
    log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
    reply = receive(SETTINGS, IncomingRequest({}, body), lambda: CONFIG, Resources(timeout=2), log)
    assert reply.status == 422, reply.body
    assert "'extra'" in reply.body["error"]


def test_hipchat_server_with_user_info_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_batch_config(
            {
                "channels": {
                    "chat": {"type": "hipchat", "room_id": "1", "token": "t", "server": "htps://u:S3CR3T@x"}
                }
            },
            "t",
        )
    assert "channels.chat.server" in str(caught.value)
    assert "S3CR3T" not in str(caught.value)
