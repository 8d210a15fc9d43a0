"""The poller against a real stats server and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import socket

import pytest

from sidekiq_watch.cli import EXIT_ALERT, EXIT_OK, main
from sidekiq_watch.handlers import poller
from sidekiq_watch.local_invoke import FunctionSpec, LocalContext
from tests.conftest import load_event
from tests.support.servers import Received, Reply, json_reply, local_server

pytestmark = pytest.mark.integration


def fresh_context() -> LocalContext:
    """A new context per invocation, as Lambda gives: its remaining time counts from now."""
    return LocalContext(FunctionSpec("PollerFunction", "", 60, 256, {}, []))


def test_handler_posts_exactly_one_message_to_the_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        local_server(lambda r: json_reply({"enqueued": 3, "queues": {"default": 3}, "retries": 51})) as stats,
        local_server(lambda r: Reply()) as slack,
    ):
        monkeypatch.setenv("SIDEKIQ_STATS_URL", f"{stats.url}/sidekiq_queues")
        monkeypatch.setenv("SIDEKIQ_SOURCE_NAME", "shop")
        monkeypatch.setenv("SLACK_WEBHOOK_URL", f"{slack.url}/services/T/B/secret")
        monkeypatch.setenv("SLACK_CHANNEL", "#ops")
        [result] = poller.handler(load_event("scheduled.json"), fresh_context())["targets"]
    assert result["delivery"] == "posted to Slack"
    [post] = slack.received
    assert (post.method, post.path) == ("POST", "/services/T/B/secret")
    body = post.json()
    assert body["channel"] == "#ops"
    # The bundled processes rule is left out for a source without the figure: no "cannot evaluate".
    assert body["text"] == "🚨 Sidekiq shop: FIRING: retries &gt; 50 (retries is 51)"
    assert [stats.received[0].path] == ["/sidekiq_queues"]


def test_quiet_stats_post_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        local_server(lambda r: json_reply({"sidekiq": {"retries": 50, "processes": 1}})) as stats,
        local_server(lambda r: Reply()) as slack,
    ):
        code = main(
            ["poll", "--stats-url", f"{stats.url}/sidekiq/stats", "--webhook-url", f"{slack.url}/hook"]
        )
    assert code == EXIT_OK
    assert slack.received == []


def test_basic_auth_reaches_the_stats_server(monkeypatch: pytest.MonkeyPatch) -> None:
    def guarded(request: Received) -> Reply:
        expected = "Basic " + base64.b64encode(b"ops:s3cr3t-pa55").decode()
        if request.headers.get("Authorization") != expected:
            return Reply(401, b"no")
        return json_reply({"enqueued": 0, "retries": 0})

    monkeypatch.setenv("SIDEKIQ_STATS_USERNAME", "ops")
    monkeypatch.setenv("SIDEKIQ_STATS_PASSWORD", "s3cr3t-pa55")
    with local_server(guarded) as stats:
        assert main(["poll", "--stats-url", stats.url]) == EXIT_OK


def test_login_redirect_becomes_a_source_down_message(capsys: pytest.CaptureFixture[str]) -> None:
    def app(request: Received) -> Reply:
        if request.path == "/login":
            return Reply(200, b"<html><form>Sign in</form></html>", {"Content-Type": "text/html"})
        return Reply(302, b"", {"Location": "/login"})

    with local_server(app) as stats, local_server(lambda r: Reply()) as slack:
        args = ["poll", "--stats-url", f"{stats.url}/sidekiq/stats", "--webhook-url", f"{slack.url}/hook"]
        assert main(args) == EXIT_ALERT
        assert slack.received == []  # one failed poll is not yet an alert (SOURCE_FAILURES_BEFORE_ALERT=2)
        assert main(args) == EXIT_ALERT
    [post] = slack.received
    assert "was redirected to /login (HTML, not JSON)" in post.json()["blocks"][1]["text"]["text"]


def test_connection_refused_becomes_a_source_down_message(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with local_server(lambda r: Reply()) as slack:
        monkeypatch.setenv("SOURCE_FAILURES_BEFORE_ALERT", "1")
        code = main(
            [
                "poll",
                "--stats-url",
                f"http://127.0.0.1:{port}/stats",
                "--webhook-url",
                f"{slack.url}/h",
                "--timeout",
                "2",
            ]
        )
    assert code == EXIT_ALERT
    assert "could not connect (connection refused)" in slack.received[0].json()["blocks"][1]["text"]["text"]
