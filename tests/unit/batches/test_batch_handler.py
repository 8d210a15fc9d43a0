"""The batch function through its Lambda handler, fed the same events/ files as `sam local invoke`."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import responses

from sidekiq_watch.handlers import batch_webhook
from sidekiq_watch.local_invoke import FunctionSpec, LocalContext
from tests.conftest import load_event


def fresh_context() -> LocalContext:
    """A new context per invocation, as Lambda gives: its remaining time counts from now."""
    return LocalContext(FunctionSpec("BatchNotificationsFunction", "", 30, 256, {}, []))


HOOK = "https://hooks.example.com/batches"


@pytest.fixture(autouse=True)
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "batches.yaml"
    config.write_text(f"channels:\n  ops:\n    type: webhook\n    url: {HOOK}\n")
    monkeypatch.setenv("BATCH_CONFIG", str(config))
    monkeypatch.setenv("BATCH_AUTH_USERNAME", "sidekiq")
    monkeypatch.setenv("BATCH_AUTH_PASSWORD", "s3cr3t-change-me")
    for cached in (batch_webhook.current_settings, batch_webhook.resources):
        cached.cache_clear()


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    result = batch_webhook.handler(event, fresh_context())
    return result["statusCode"], json.loads(result["body"]), result.get("headers", {})


def event(name: str = "batch-complete-with-failures.json", **changes: Any) -> dict[str, Any]:
    found = copy.deepcopy(load_event(name))
    found["headers"]["authorization"] = "Basic " + base64.b64encode(b"sidekiq:s3cr3t-change-me").decode()
    for key, value in changes.items():
        if key == "headers":
            found["headers"].update(value)
        else:
            found[key] = value
    return found


@responses.activate
def test_a_complete_payload_is_delivered_and_reported() -> None:
    responses.post(HOOK, body="ok")
    status, body, _ = invoke(event())
    assert status == 200
    assert body["deliveries"] == [
        {"channel": "ops", "kind": "webhook", "status": "delivered", "detail": "HTTP 200"}
    ]
    assert json.loads(responses.calls[0].request.body)["bid"] == "a8b2c1d4e5f60718"


@responses.activate
def test_a_resent_payload_is_not_delivered_twice() -> None:
    responses.post(HOOK, body="ok")
    invoke(event())
    status, body, _ = invoke(event())
    assert status == 200
    assert body["deliveries"][0]["status"] == "already_delivered"
    assert len(responses.calls) == 1


@responses.activate
def test_a_failed_channel_answers_502_so_the_sender_retries(no_sleep: list[float]) -> None:
    responses.post(HOOK, status=503)
    status, body, _ = invoke(event())
    assert status == 502
    assert body["deliveries"][0]["status"] == "failed"


@responses.activate
@pytest.mark.parametrize(
    "headers",
    [{"authorization": "Basic " + base64.b64encode(b"sidekiq:wrong").decode()}, {"authorization": ""}],
    ids=["wrong", "missing"],
)
def test_wrong_or_missing_credentials_get_401_and_nothing_is_delivered(headers: dict[str, str]) -> None:
    status, _body, reply_headers = invoke(event(headers=headers))
    assert status == 401
    assert reply_headers["WWW-Authenticate"].startswith("Basic realm=")
    assert len(responses.calls) == 0


@responses.activate
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"body": "{not json"}, 400),
        ({"headers": {"content-type": "text/plain"}}, 415),
        ({"body": json.dumps({"total": 3})}, 422),
        ({"body": json.dumps({"bid": "b", "failures": -1})}, 422),
        ({"body": json.dumps(["bid"])}, 422),
        ({"body": "x" * 300_000}, 413),
        ({"queryStringParameters": {"event": "finished"}, "rawQueryString": "event=finished"}, 400),
    ],
    ids=["invalid-json", "content-type", "missing-bid", "negative", "array", "too-large", "bad-event"],
)
def test_bad_input_gets_a_clear_4xx_and_nothing_is_delivered(changes: dict[str, Any], expected: int) -> None:
    status, body, _ = invoke(event(**changes))
    assert status == expected
    assert body["error"]
    assert "Traceback" not in json.dumps(body)
    assert len(responses.calls) == 0


def test_unknown_route_is_404() -> None:
    changed = event()
    changed["rawPath"] = changed["requestContext"]["http"]["path"] = "/nope"
    assert invoke(changed)[0] == 404


def test_wrong_method_is_405() -> None:
    changed = event()
    changed["requestContext"]["http"]["method"] = "GET"
    status, _, headers = invoke(changed)
    assert (status, headers["Allow"]) == (405, "POST")


def test_validation_errors_name_the_field_without_echoing_input() -> None:
    status, body, _ = invoke(event(body=json.dumps({"bid": "b", "total": "<!channel> lots"})))
    assert status == 422
    assert body["details"][0]["field"] == "total"
    assert "<!channel>" not in json.dumps(body)


@responses.activate
def test_a_webhook_only_configuration_creates_no_ses_or_sns_client(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    created: list[str] = []
    real_client = boto3.client
    monkeypatch.setattr(boto3, "client", lambda name, **kw: created.append(name) or real_client(name, **kw))
    responses.post(HOOK, body="ok")
    status, _, _ = invoke(event())
    assert status == 200
    assert "sesv2" not in created
    assert "sns" not in created
    assert batch_webhook.resources().__dict__.keys().isdisjoint({"ses", "sns"})
