"""The batch handler fuzzed with structural attacks while every channel kind is configured: Slack,
webhook, Campfire, HipChat and Teams against a stand-in peer on 127.0.0.1, SES and SNS in moto.

Whatever comes in: never a 5xx but the 502 of a failed delivery (and none here: every peer works),
nothing delivered for a refused request, nothing posted to Slack that Slack would parse as a
mention or a link other than the batch's own.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as event_label
from hypothesis import strategies as st

from sidekiq_watch.handlers import batch_webhook
from sidekiq_watch.local_invoke import FunctionSpec, LocalContext
from tests.conftest import load_event
from tests.support.servers import LocalServer, Reply, local_server

pytestmark = pytest.mark.integration

WEB = "https://app.example.com/sidekiq"
TOKEN = "s3cr3t-fuzz-token"
INJECTIONS = [
    "<!channel>",
    "<!here|here>",
    "<@U024BE7LH>",
    "<https://evil.example|click>",
    "x><!channel>",
    "a|b>",
    "&lt;!everyone&gt;",
    "</script><script>alert(1)</script>",
    "'\"><img src=x>",
    "\u202e\u0000",
    "*bold* _it_ `code` ~s~",
]
text = st.one_of(
    st.sampled_from(INJECTIONS), st.text(max_size=60), st.sampled_from(INJECTIONS).map(lambda s: s * 3)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)


def nested(depth: int) -> Any:
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


failure = st.fixed_dictionaries(
    {},
    optional={
        "jid": text,
        "error_class": text,
        "error_message": text,
        "backtrace": st.one_of(text, st.lists(text, max_size=3)),
    },
)
documents = st.fixed_dictionaries(
    {
        "bid": st.one_of(
            *[text.filter(lambda t: t.strip() != "" and not any(c.isspace() for c in t))] * 4, scalars
        )
    },
    optional={
        "description": st.one_of(text, scalars),
        "total": scalars,
        "failures": st.one_of(st.integers(0, 10), scalars),
        "pending": st.one_of(st.integers(0, 10), scalars),
        "created_at": scalars,
        "event": st.one_of(st.sampled_from(["complete", "success", "death"]), text),
        "failure_info": st.one_of(st.lists(failure, max_size=4), scalars),
        "dead_jobs": st.one_of(
            st.lists(
                st.fixed_dictionaries({}, optional={"jid": text, "class": text, "error_class": text}),
                max_size=3,
            ),
            scalars,
        ),
        "meta": st.one_of(st.integers(0, 16).map(nested), st.integers(17, 300).map(nested), scalars),
    },
)
documents = st.tuples(documents, st.dictionaries(text, scalars, max_size=3)).map(lambda t: {**t[1], **t[0]})
raw_numbers = st.sampled_from(
    ["", "1e999", "-1e999", "NaN", "Infinity", "9" * 5000, "-" + "1" * 4400, "1.5e308"]
)
headers = st.fixed_dictionaries(
    {
        "content-type": st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "text/plain", ""]
        ),
        "authorization": st.sampled_from(
            [f"Bearer {TOKEN}", f"Bearer {TOKEN}", "Bearer wrong", "", "Basic Og=="]
        ),
    }
)


@pytest.fixture
def everything(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, aws: None) -> Iterator[dict[str, Any]]:
    """Every channel kind configured, each pointing at a peer that accepts everything."""
    ses = boto3.client("sesv2", region_name="us-east-1")
    ses.create_email_identity(EmailIdentity="watch@example.com")
    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="batches")["TopicArn"]
    with local_server(lambda request: Reply(200, b"ok")) as peer:
        config = {
            "web_url": WEB,
            "channels": {
                "slack": {"webhook_url": f"{peer.url}/slack"},
                "webhook": {"url": f"{peer.url}/webhook"},
                "campfire": {"url": f"{peer.url}/campfire"},
                "hipchat": {"server": peer.url, "room_id": "ops", "token": "s3cr3t-hipchat"},
                "teams": {"webhook_url": f"{peer.url}/teams"},
                "email": {"from": "watch@example.com", "to": "ops@example.com"},
                "sns": {"topic_arn": topic},
            },
        }
        path = tmp_path / "batches.json"
        path.write_text(json.dumps(config))
        monkeypatch.setenv("BATCH_CONFIG", str(path))
        monkeypatch.setenv("BATCH_AUTH_TOKEN", TOKEN)
        yield {"peer": peer, "ses": ses}


def sent_so_far(peer: LocalServer) -> int:
    return len(peer.received)


def slack_links(payload: dict[str, Any]) -> list[str]:
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                rest = node["text"]
                while "<" in rest:
                    rest = rest.split("<", 1)[1]
                    found.append(rest.split(">", 1)[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload)
    return found


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
GOOD_HEADERS = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}


def post(
    peer: LocalServer, body: str, header: dict[str, str], base64_body: bool
) -> tuple[int, dict[str, Any]]:
    event = load_event("batch-complete-with-failures.json")
    event["headers"] = {k: v for k, v in header.items() if v}
    if base64_body:
        event.update(body=base64.b64encode(body.encode()).decode(), isBase64Encoded=True)
    else:
        event.update(body=body, isBase64Encoded=False)
    before = len(peer.received)
    context = LocalContext(FunctionSpec("BatchNotificationsFunction", "", 30, 256, {}, []))
    result = batch_webhook.handler(event, context)
    answer = json.loads(result["body"])
    event_label(f"HTTP {result['statusCode']}")
    assert result["statusCode"] in (200, 400, 401, 413, 415, 422), answer
    assert "Traceback" not in result["body"]
    if result["statusCode"] != 200:
        assert len(peer.received) == before, "a refused request delivered something"
    else:
        assert {d["status"] for d in answer["deliveries"]} <= {"delivered", "already_delivered"}, answer
    return result["statusCode"], answer


def assert_inert(peer: LocalServer, since: int) -> None:
    for request in peer.received[since:]:
        if request.path == "/slack":
            payload = request.json()
            assert "<!" not in json.dumps(payload)
            for link in slack_links(payload):
                if link == f"{WEB}/morgue|Dead jobs in Sidekiq Web":  # a death event links the Dead tab
                    continue
                assert link.startswith(f"{WEB}/batches/"), link
                assert link.endswith("|Batch in Sidekiq Web"), link
                assert not set(link.removesuffix("|Batch in Sidekiq Web")) & set("<>| ")
        if request.path == "/webhook":
            json.loads(request.body, parse_constant=lambda c: pytest.fail(f"{c} sent to a JSON consumer"))


@FUZZ
@given(document=documents, number=raw_numbers, header=headers, base64_body=st.booleans())
def test_structural_attacks_are_answered_4xx_and_deliver_nothing(
    everything: dict[str, Any],
    document: dict[str, Any],
    number: str,
    header: dict[str, str],
    base64_body: bool,
) -> None:
    peer = everything["peer"]
    body = json.dumps(document)
    if number:
        body = body[:-1] + f', "n": {number}}}'
    since = len(peer.received)
    post(peer, body, header, base64_body)
    assert_inert(peer, since)


@FUZZ
@given(
    document=documents.filter(lambda d: isinstance(d["bid"], str)),
    depth=st.one_of(st.none(), st.integers(0, 300)),
    base64_body=st.booleans(),
)
def test_hostile_text_in_every_field_reaches_every_channel_inert(
    everything: dict[str, Any], document: dict[str, Any], depth: int | None, base64_body: bool
) -> None:
    peer = everything["peer"]
    if depth is not None:
        document["meta"] = nested(depth)
    since = len(peer.received)
    post(peer, json.dumps(document), GOOD_HEADERS, base64_body)
    assert_inert(peer, since)


# Issue 23: what a batch may choose (destinations, recipients, subjects), fuzzed with every form the
# outside attack used. A second peer stands for the attacker's host: it must never hear anything.
def choices(peer: str, elsewhere: str) -> st.SearchStrategy[dict[str, Any]]:
    allowed_hook = f"{peer}/allowed/team"
    elsewhere_port = elsewhere.rsplit(":", 1)[1]
    peer_port = peer.rsplit(":", 1)[1]
    destinations = st.sampled_from(
        [
            allowed_hook,
            f"{elsewhere}/allowed/team",
            f"{elsewhere}/.{peer_port}/allowed/x",
            f"{elsewhere}?{peer}/allowed/x",
            f"{elsewhere}#{peer}/allowed/x",
            f"{elsewhere}\\{peer}/allowed/x",
            f"http://127.0.0.1:{peer_port}@127.0.0.1:{elsewhere_port}/allowed/x",
            f"http://127.0.0.1:{peer_port}:x@127.0.0.1:{elsewhere_port}/allowed/",
            f"{peer}/allowed/../../admin",
            f"{peer}/allowed/%2e%2e/%2e%2e/admin",
            f"http://localhost:{elsewhere_port}/allowed/x",
            f"http://2130706433:{elsewhere_port}/allowed/x",
            "ssm:/sidekiq-watch/webhook",
        ]
    )
    addresses = st.sampled_from(
        [
            "team@example.com",
            "attacker@evil.example",
            "a@example.com\r\nBcc: attacker@evil.example",
            "Ops <attacker@evil.example>",
            "x@example.com.evil.example",
            "a@example.com,attacker@evil.example",
        ]
    )
    subjects = st.one_of(
        st.sampled_from(
            ["{bid:>1099511627776}", "{bid.__class__.__mro__}", "{0}", "[{event}] {bid}", "{{x}}"]
        ),
        text,
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "webhook": st.fixed_dictionaries({"url": destinations}),
            "hipchat": st.fixed_dictionaries(
                {}, optional={"server": destinations.map(lambda u: u.split("/allowed")[0]), "room_id": text}
            ),
            "campfire": st.fixed_dictionaries(
                {"room_id": st.sampled_from(["1", "1/../../x", "../a", "12a"])}
            ),
            "email": st.fixed_dictionaries(
                {},
                optional={
                    "to": st.one_of(addresses, st.lists(addresses, max_size=25)),
                    "reply_to": addresses,
                    "subject": subjects,
                },
            ),
        },
    )


@pytest.fixture
def guarded(
    everything: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """Every channel kind with allow-lists; the attacker's host is a second peer."""
    peer = everything["peer"]
    with local_server(lambda request: Reply(200, b"ok")) as elsewhere:
        config = json.loads(Path(os.environ["BATCH_CONFIG"]).read_text())
        channels = config["channels"]
        channels["webhook"]["allow_destinations"] = [f"{peer.url}/allowed/*"]
        channels["webhook"]["headers"] = {"X-Secret": "s3cr3t-header"}
        channels["hipchat"]["allow_destinations"] = [f"{peer.url}/*"]
        channels["campfire"] = {"subdomain": "acme", "room_id": "1", "token": "s3cr3t-campfire"}
        channels["email"]["allow_recipients"] = ["*@example.com"]
        path = tmp_path / "guarded.json"
        path.write_text(json.dumps(config))
        monkeypatch.setenv("BATCH_CONFIG", str(path))
        yield {**everything, "elsewhere": elsewhere}


def ses_recipients() -> list[str]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    return [a for m in sent for addresses in m.destinations.values() for a in addresses]


@FUZZ
@given(data=st.data(), surrogate=st.booleans())
def test_what_a_batch_chooses_never_reaches_a_host_or_recipient_outside_the_allow_lists(
    guarded: dict[str, Any], data: st.DataObject, surrogate: bool
) -> None:
    peer, elsewhere = guarded["peer"], guarded["elsewhere"]
    notify = data.draw(choices(peer.url, elsewhere.url))
    body = json.dumps({"bid": f"b{data.draw(st.integers(0, 10**9))}", "pending": 0, "notify": notify})
    if surrogate:
        body = body[:-1] + ', "x\\ud800": 1}'
    since = len(peer.received)
    with mock.patch("sidekiq_watch.channels.chat.CampfireChannel.deliver", return_value="HTTP 200"):
        status, _ = post(peer, body, GOOD_HEADERS, False)
    assert elsewhere.received == [], "a batch reached a host outside the allow-lists"
    for request in peer.received[since:]:
        assert "/admin" not in request.path
    assert all(address.endswith("@example.com") for address in ses_recipients()), ses_recipients()
    assert all("\n" not in address and "\r" not in address for address in ses_recipients())
    if surrogate:
        assert status == 422
