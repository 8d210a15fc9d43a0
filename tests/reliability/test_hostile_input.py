"""Hostile batch webhook input: property-based and fuzzed. Always 2xx/4xx, never a 5xx or a stack trace."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.intake import IncomingRequest, Reply, parse_request, receive
from sidekiq_watch.batches.payload import BatchEvent, BatchStatus
from sidekiq_watch.batches.render import batch_message
from sidekiq_watch.channels import Resources
from sidekiq_watch.channels.slack import slack_payload
from sidekiq_watch.settings import load_batch_settings
from tests.conftest import load_event

SETTINGS = load_batch_settings(
    {"BATCH_AUTH_USERNAME": "sidekiq", "BATCH_AUTH_PASSWORD": "s3cr3t-pw"}
).admission
AUTH = {
    "Authorization": "Basic " + base64.b64encode(b"sidekiq:s3cr3t-pw").decode(),
    "Content-Type": "application/json",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=200),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=20), children, max_size=6)
    ),
    max_leaves=40,
)
payload_like = st.fixed_dictionaries(
    {},
    optional={
        "bid": st.one_of(st.text(max_size=300), st.integers(), st.none(), json_values),
        "total": st.one_of(st.integers(), st.text(max_size=5), st.floats(allow_nan=False), json_values),
        "failures": st.one_of(st.integers(), st.text(max_size=5), json_values),
        "pending": st.one_of(st.integers(), json_values),
        "complete": json_values,
        "description": st.one_of(st.text(max_size=12_000), json_values),
        "event": st.one_of(st.sampled_from(["complete", "success", "done", ""]), json_values),
        "failure_info": st.one_of(
            st.lists(
                st.dictionaries(
                    st.sampled_from(["jid", "error_class", "error_message", "backtrace"]), json_values
                ),
                max_size=5,
            ),
            json_values,
        ),
    },
)


def assert_clean(reply: Reply | BatchEvent) -> None:
    if isinstance(reply, BatchEvent):
        return
    assert 400 <= reply.status < 500, reply
    text = json.dumps(reply.body)
    assert "Traceback" not in text
    assert 'File "' not in text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=2000))
def test_arbitrary_bytes_never_break_the_parser(body: bytes) -> None:
    assert_clean(parse_request(SETTINGS, IncomingRequest(AUTH, body)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=json_values)
def test_arbitrary_json_never_breaks_the_parser(document: Any) -> None:
    assert_clean(parse_request(SETTINGS, IncomingRequest(AUTH, json.dumps(document).encode())))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=payload_like, event=st.one_of(st.none(), st.text(max_size=10)))
def test_payload_shaped_garbage_is_accepted_or_refused_cleanly(
    document: dict[str, Any], event: str | None
) -> None:
    query = {} if event is None else {"event": event}
    result = parse_request(SETTINGS, IncomingRequest(AUTH, json.dumps(document).encode(), query))
    assert_clean(result)
    if isinstance(result, BatchEvent):
        payload = slack_payload(batch_message(result))  # whatever got in renders
        assert "<!" not in json.dumps(payload)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 400),  # deeper than the JSON parser's recursion limit
        (json.dumps({"bid": "b", "x": [[[[[[[[[[{}]]]]]]]]]]}).encode(), None),
        (json.dumps({"bid": "b" * 201}).encode(), 422),
        (json.dumps({"bid": "b", "description": "d" * 10_001}).encode(), 422),
        (json.dumps({"bid": "ü🚀", "description": "\u202e\u0000\ufffd"}).encode(), None),
        (b"\xff\xfe\x00\x00", 400),
    ],
    ids=["deep-nesting", "nested-extra", "long-bid", "long-description", "unicode", "not-utf8"],
)
def test_extreme_inputs(body: bytes, status: int | None) -> None:
    result = parse_request(SETTINGS, IncomingRequest(AUTH, body))
    if status is None:
        assert isinstance(result, BatchEvent)
    else:
        assert isinstance(result, Reply)
        assert result.status == status


def test_untrusted_text_cannot_ping_or_forge_links_in_slack() -> None:
    status = BatchStatus.model_validate(
        {
            "bid": "b1",
            "description": "<!channel> import <https://evil.example|your bank>",
            "failure_info": [{"jid": "j", "error_class": "<@U024BE7LH>", "error_message": "<!here> &lt;"}],
        }
    )
    text = json.dumps(slack_payload(batch_message(BatchEvent(status, "complete"))))
    for forged in ("<!channel>", "<!here>", "<@U024BE7LH>", "<https://evil.example|"):
        assert forged not in text
    assert "&lt;!channel&gt;" in text


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(
        st.binary(max_size=500),
        json_values.map(lambda v: json.dumps(v).encode()),
        payload_like.map(lambda v: json.dumps(v).encode()),
    ),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; charset=utf-8"]),
    authorization=st.sampled_from([AUTH["Authorization"], "", "Basic !!", "Bearer x"]),
)
def test_the_whole_intake_answers_2xx_or_4xx(
    tmp_path: Path, body: bytes, content_type: str, authorization: str
) -> None:
    config = parse_batch_config({"channels": {"console": {"type": "print"}}}, "fuzz")
    log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
    headers = {"Authorization": authorization, "Content-Type": content_type}
    reply = receive(SETTINGS, IncomingRequest(headers, body), lambda: config, Resources(timeout=1), log)
    assert reply.status < 500 or reply.status == 502
    assert reply.status != 502  # a print channel cannot fail: a 5xx here would be a bug
    assert "Traceback" not in json.dumps(reply.body)


def test_fuzzed_lambda_events_never_get_a_5xx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The handler itself, on mutated copies of the real Function URL event."""
    import random

    from sidekiq_watch.handlers import batch_webhook
    from sidekiq_watch.local_invoke import FunctionSpec, LocalContext

    config = tmp_path / "batches.yaml"
    config.write_text("channels:\n  console:\n    type: print\n")
    monkeypatch.setenv("BATCH_CONFIG", str(config))
    monkeypatch.setenv("BATCH_AUTH_USERNAME", "sidekiq")
    monkeypatch.setenv("BATCH_AUTH_PASSWORD", "s3cr3t-pw")
    rng = random.Random(1234)
    base = load_event("batch-complete-with-failures.json")
    mutations = [
        lambda e: e.update(body=rng.choice(["", "null", "{", "[]", '{"bid": 1}', "x" * 300_000])),
        lambda e: e.update(isBase64Encoded=True, body=base64.b64encode(rng.randbytes(64)).decode()),
        lambda e: e.update(isBase64Encoded=True, body="not base64!!"),
        lambda e: e["headers"].pop("content-type", None),
        lambda e: e["headers"].update(authorization=rng.choice(["", "Basic", "Basic Og==", "Digest x"])),
        lambda e: e.update(rawQueryString="event=%00", queryStringParameters={"event": "\u0000"}),
        lambda e: e["requestContext"]["http"].update(method=rng.choice(["PUT", "DELETE", "PATCH", "GET"])),
        lambda e: e.update(rawPath="/" + "a" * rng.randint(1, 3000)),
        lambda e: e.update(headers={}),
    ]
    context = LocalContext(FunctionSpec("BatchNotificationsFunction", "", 30, 256, {}, []))
    for _ in range(300):
        event = copy.deepcopy(base)
        event["headers"]["authorization"] = AUTH["Authorization"]
        for mutate in rng.sample(mutations, rng.randint(1, 3)):
            mutate(event)
        result = batch_webhook.handler(event, context)
        assert result["statusCode"] < 500, (result, event.get("body", "")[:100])
        assert "Traceback" not in result["body"]
