"""Silence from Slack (issue 27): buttons on alert messages, and clicks checked as Slack documents
(v0 HMAC-SHA256 over v0:timestamp:body, within five minutes) before anything is read."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import responses

from sidekiq_watch.alerts.config import WatchConfig
from sidekiq_watch.alerts.persistence.local_file import LocalFileStore
from sidekiq_watch.alerts.slack_actions import ClickOutcome, handle_click, signature
from sidekiq_watch.poll import Watcher
from tests.unit.test_watcher import HOUR, Clock, Sidekiq, Slack, target

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
RESPONSE_URL = "https://hooks.slack.com/actions/T0/123/abc"


def posted_message(buttons: bool = True) -> dict[str, Any]:
    """What the poller posts for retries > 50 firing, with or without the Silence buttons."""
    slack, clock = Slack(), Clock()
    config = WatchConfig((target(),), repeat_interval=HOUR, source_failures_before_alert=2)
    from tempfile import mkdtemp

    watcher = Watcher(
        config,
        LocalFileStore(Path(mkdtemp()) / "s.json"),
        source_for=lambda t: Sidekiq(retries=60),
        channel_for=lambda t: slack,
        clock=clock,
        silence_buttons=buttons,
    )
    watcher.poll_all()
    [message] = slack.sent
    return message


def click(message: dict[str, Any], action_id: str, *, user: str = "alice", action_ts: str = "1.5") -> bytes:
    """The interactivity request Slack sends when a button of this message is clicked."""
    [buttons] = [b for b in message["blocks"] if b["type"] == "actions"]
    [button] = [e for e in buttons["elements"] if e["action_id"] == action_id]
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": user},
        "actions": [{"action_id": action_id, "value": button["value"], "action_ts": action_ts}],
        "response_url": RESPONSE_URL,
        "message": {"text": message["text"], "blocks": message["blocks"]},
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    return {"x-slack-request-timestamp": stamp, "x-slack-signature": signature(secret, stamp, body)}


def test_alert_messages_carry_silence_buttons_only_with_a_signing_secret() -> None:
    with_buttons = posted_message(buttons=True)
    [actions] = [b for b in with_buttons["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["silence_1h", "silence_24h"]
    assert json.loads(actions["elements"][0]["value"]) == {"t": "shop", "r": ["retries > 50"]}
    assert not [b for b in posted_message(buttons=False)["blocks"] if b["type"] == "actions"]


def test_a_click_silences_the_message_s_rules_as_the_slack_user(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "state.json")
    body = click(posted_message(), "silence_1h")
    now = time.time()
    reply = handle_click(body, signed(body), SECRET, store, now)
    assert (reply.outcome, reply.status) == (ClickOutcome.SILENCED, 200)
    [silence] = store.load_silences()
    assert (silence.author, silence.matchers) == ("@alice", (("target", "shop"), ("rule", "retries > 50")))
    assert silence.ends_at == pytest.approx(now + 3600)
    assert reply.response_url == RESPONSE_URL
    assert reply.update is not None
    note = json.dumps(reply.update)
    assert "Silenced for 1h by @alice, until" in note
    [actions] = [b for b in reply.update["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["unsilence"]


def test_a_replayed_click_stores_no_second_silence(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "state.json")
    body = click(posted_message(), "silence_24h")
    headers = signed(body)
    for _ in range(3):
        assert handle_click(body, headers, SECRET, store, time.time()).status == 200
    assert len(store.load_silences()) == 1


@pytest.mark.parametrize(
    "forge",
    [
        lambda body: signed(body, secret="not-the-secret"),
        lambda body: signed(body, at=time.time() - 301),  # stale: perhaps a replay
        lambda body: {"x-slack-request-timestamp": str(int(time.time()))},  # no signature
        lambda body: {},
        lambda body: signed(body + b"&x=1"),  # signed over another body
    ],
    ids=["wrong-secret", "stale", "unsigned", "no-headers", "tampered"],
)
def test_a_forged_or_stale_click_is_refused_and_stores_nothing(tmp_path: Path, forge: Any) -> None:
    store = LocalFileStore(tmp_path / "state.json")
    body = click(posted_message(), "silence_1h")
    reply = handle_click(body, forge(body), SECRET, store, time.time())
    assert (reply.status, reply.outcome) == (401, ClickOutcome.REFUSED)
    assert store.load_silences() == ()


def test_an_unknown_action_is_400_and_a_foreign_response_url_is_never_used(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "state.json")
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "mallory"},
        "actions": [{"action_id": "delete_everything", "value": "{}", "action_ts": "1"}],
        "response_url": "https://evil.example/collect",
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert handle_click(body, signed(body), SECRET, store, time.time()).status == 400
    payload["actions"] = [
        {"action_id": "silence_1h", "value": json.dumps({"t": "shop", "r": ["x"]}), "action_ts": "1"}
    ]
    body = urlencode({"payload": json.dumps(payload)}).encode()
    reply = handle_click(body, signed(body), SECRET, store, time.time())
    assert reply.status == 200
    assert reply.response_url is None  # the update goes to hooks.slack.com or nowhere


def test_unsilence_ends_the_silences_the_click_made(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "state.json")
    body = click(posted_message(), "silence_1h")
    silenced = handle_click(body, signed(body), SECRET, store, time.time())
    assert silenced.update is not None
    undo = click({"text": "x", "blocks": silenced.update["blocks"]}, "unsilence", action_ts="2.0")
    now = time.time()
    reply = handle_click(undo, signed(undo), SECRET, store, now)
    assert reply.outcome is ClickOutcome.UNSILENCED
    [silence] = store.load_silences()
    assert silence.ends_at == pytest.approx(now)
    assert "Unsilenced by @alice" in json.dumps(reply.update)


@responses.activate
def test_the_function_end_to_end_through_sidekiq_watch_invoke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message the poller posted, its button's payload signed as Slack signs it, the function run
    as `sidekiq-watch invoke SlackActionsFunction` runs it: the silence stored, the message updated."""
    from sidekiq_watch.local_invoke import invoke
    from tests.conftest import ROOT

    responses.post(RESPONSE_URL, body="ok")
    body = click(posted_message(), "silence_1h")
    event = {
        "version": "2.0",
        "rawPath": "/",
        "headers": {"content-type": "application/x-www-form-urlencoded", **signed(body)},
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    (tmp_path / "event.json").write_text(json.dumps(event))
    state = tmp_path / "state.json"
    env = {
        "SlackActionsFunction": {"SLACK_SIGNING_SECRET": SECRET, "STATE_TABLE": "", "STATE_FILE": str(state)}
    }
    (tmp_path / "env.json").write_text(json.dumps(env))
    monkeypatch.chdir(ROOT)
    result = invoke(
        None, "SlackActionsFunction", tmp_path / "event.json", env_vars_path=tmp_path / "env.json"
    )
    assert result["statusCode"] == 200
    [silence] = LocalFileStore(state).load_silences()
    assert silence.author == "@alice"
    [update] = responses.calls
    sent = json.loads(update.request.body)
    assert sent["replace_original"] is True
    assert "Silenced for 1h by @alice" in json.dumps(sent["blocks"])
    forged = {**event, "headers": {**event["headers"], "x-slack-signature": "v0=" + "0" * 64}}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    refused = invoke(
        None, "SlackActionsFunction", tmp_path / "forged.json", env_vars_path=tmp_path / "env.json"
    )
    assert refused["statusCode"] == 401


class FakeLambda:
    """Lambda's Invoke, as the hand-off calls it; ``fails`` makes it raise as botocore would."""

    def __init__(self, fails: bool = False) -> None:
        self.invoked: list[dict[str, Any]] = []
        self.fails = fails

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        if self.fails:
            raise TimeoutError("read timeout")
        self.invoked.append(kwargs)
        return {"StatusCode": 202}


def click_event(body: bytes) -> dict[str, Any]:
    return {
        "version": "2.0",
        "headers": {"content-type": "application/x-www-form-urlencoded", **signed(body)},
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


@pytest.fixture
def in_lambda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The function as deployed: its secret, its state, Lambda's runtime API; its context."""
    from sidekiq_watch.local_invoke import FunctionSpec, LocalContext

    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("STATE_FILE", str(tmp_path / "state.json"))
    monkeypatch.delenv("STATE_TABLE", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    return LocalContext(FunctionSpec("SlackActionsFunction", "", 10, 256, {}, []))


@responses.activate
def test_in_lambda_a_click_is_answered_first_and_the_message_updated_after(
    in_lambda: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sidekiq_watch.handlers import slack_actions

    responses.post(RESPONSE_URL, body="ok")
    fake = FakeLambda()
    monkeypatch.setattr(slack_actions, "lambda_client", lambda: fake)
    answer = slack_actions.handler(click_event(click(posted_message(), "silence_1h")), in_lambda)
    assert answer["statusCode"] == 200
    assert len(responses.calls) == 0  # nothing sent to Slack before answering
    [handed] = fake.invoked
    assert handed["InvocationType"] == "Event"
    assert handed["FunctionName"] == in_lambda.invoked_function_arn
    later = slack_actions.handler(json.loads(handed["Payload"]), in_lambda)
    assert later == {"sent": True}
    [update] = responses.calls
    assert "Silenced for 1h by @alice" in json.dumps(json.loads(update.request.body)["blocks"])


@responses.activate
def test_a_failed_hand_off_updates_the_message_before_answering(
    in_lambda: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sidekiq_watch.handlers import slack_actions

    responses.post(RESPONSE_URL, body="ok")
    monkeypatch.setattr(slack_actions, "lambda_client", lambda: FakeLambda(fails=True))
    answer = slack_actions.handler(click_event(click(posted_message(), "silence_1h")), in_lambda)
    assert answer["statusCode"] == 200
    assert len(responses.calls) == 1


@responses.activate
def test_an_update_event_for_any_host_but_slacks_is_not_sent(in_lambda: Any) -> None:
    from sidekiq_watch.handlers import slack_actions

    event = {slack_actions.UPDATE_EVENT: {"response_url": "https://evil.example/x", "update": {"text": "hi"}}}
    assert slack_actions.handler(event, in_lambda) == {"sent": False}
    assert len(responses.calls) == 0


@responses.activate
def test_a_function_url_request_cannot_pose_as_a_handed_off_update(in_lambda: Any) -> None:
    from sidekiq_watch.handlers import slack_actions

    update = {"response_url": RESPONSE_URL, "update": {"text": "forged"}}
    event = {**click_event(b"payload=x"), slack_actions.UPDATE_EVENT: update}
    event["headers"] = {"x-slack-signature": "v0=" + "0" * 64, "x-slack-request-timestamp": "1"}
    assert slack_actions.handler(event, in_lambda)["statusCode"] == 401
    assert len(responses.calls) == 0
