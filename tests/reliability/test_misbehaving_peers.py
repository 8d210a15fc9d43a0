"""Peers that answer badly, slowly or elsewhere, on real sockets: a 2xx status means delivered, every
exchange ends by its deadline, credentials never follow a redirect to another host, no cookie travels."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest

from sidekiq_watch.channels.slack import SlackWebhook
from sidekiq_watch.errors import DeliveryError, SourceError
from sidekiq_watch.http import RetryPolicy, deliver, new_session, send
from sidekiq_watch.local_invoke import FunctionSpec, LocalContext
from sidekiq_watch.secrets import Secret
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.sources import HttpStatsSource
from tests.conftest import load_event
from tests.support.faulty import raw_server, read_request, reset
from tests.support.servers import Reply, json_reply, local_server

pytestmark = pytest.mark.integration

STATS = {"enqueued": 1, "queues": {"default": 1}, "retries": 3}
FAST = RetryPolicy(attempts=3, backoff_seconds=0.05, max_retry_after_seconds=30)


class Counting:
    """Counts the requests a raw-socket peer received, so duplicates show."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.count = 0
        self._serve = serve
        self._lock = threading.Lock()

    def __call__(self, connection: socket.socket) -> None:
        read_request(connection)
        with self._lock:
            self.count += 1
        with suppress(OSError):
            self._serve(connection)


def oversize_ok(connection: socket.socket) -> None:
    body = b"x" * (200 * 1024)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def cut_ok(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nok")
    time.sleep(0.05)
    reset(connection)


def trickled(status: bytes) -> Callable[[socket.socket], None]:
    def serve(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            connection.sendall(b"{")
            time.sleep(0.4)

    return serve


def webhook(url: str, timeout: float = 1.0) -> SlackWebhook:
    return SlackWebhook(Secret("SLACK_WEBHOOK_URL", url), timeout=timeout, policy=FAST)


@pytest.mark.parametrize(
    "serve", [oversize_ok, cut_ok, trickled(b"200 OK")], ids=["oversize", "cut", "trickle"]
)
def test_a_2xx_status_is_delivered_once_whatever_its_body_does(
    serve: Callable[[socket.socket], None],
) -> None:
    peer = Counting(serve)
    with raw_server(peer) as url:
        started = time.monotonic()
        webhook(url + "/hook").post({"text": "hi"})
        elapsed = time.monotonic() - started
    assert peer.count == 1
    assert elapsed < 3


def test_a_trickled_stats_answer_ends_at_the_attempt_deadline() -> None:
    peer = Counting(trickled(b"200 OK"))
    with raw_server(peer) as url:
        source = HttpStatsSource(url + "/stats", StatsAuth(), timeout=1.0, policy=RetryPolicy(attempts=1))
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            source.read()
        elapsed = time.monotonic() - started
    assert caught.value.kind == "timeout"
    assert elapsed < 2.0  # one 1 s attempt and one trickle interval, not 1000 of them


def test_retries_and_their_waits_fit_in_the_time_left() -> None:
    peer = Counting(
        lambda c: c.sendall(
            b"HTTP/1.1 503 Busy\r\nRetry-After: 2\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
    )
    with raw_server(peer) as url:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            deliver(
                new_session(),
                "POST",
                url,
                location="peer",
                timeout=5,
                policy=RetryPolicy(attempts=5, backoff_seconds=0.05, max_retry_after_seconds=10),
                deadline=time.monotonic() + 3.5,
            )
        elapsed = time.monotonic() - started
    assert not caught.value.permanent
    assert elapsed < 4
    assert peer.count == 2  # a third attempt after another 2 s wait would not fit


def test_a_peer_that_never_answers_is_left_when_the_invocation_must_answer() -> None:
    with raw_server(lambda connection: time.sleep(30)) as url:
        started = time.monotonic()
        with pytest.raises(DeliveryError):
            deliver(
                new_session(),
                "POST",
                url,
                location="peer",
                timeout=10,
                policy=FAST,
                deadline=time.monotonic() + 1.5,
            )
        elapsed = time.monotonic() - started
    assert elapsed < 2.5


def test_no_attempt_starts_once_the_time_is_spent() -> None:
    peer = Counting(oversize_ok)
    with raw_server(peer) as url, pytest.raises(DeliveryError):
        deliver(
            new_session(), "POST", url, location="p", timeout=5, policy=FAST, deadline=time.monotonic() - 1
        )
    assert peer.count == 0


CREDENTIALS = {
    "basic": StatsAuth(username="watch", password=Secret("P", "s3cr3t-basic")),
    "bearer": StatsAuth(token=Secret("T", "s3cr3t-bearer")),
    "custom-header": StatsAuth(token=Secret("T", "s3cr3t-key"), token_header="X-Api-Key"),
}


@pytest.mark.parametrize("style", CREDENTIALS)
def test_credentials_never_follow_a_redirect_to_another_host(style: str) -> None:
    with local_server(lambda r: json_reply(STATS)) as elsewhere:
        other = elsewhere.url.replace("127.0.0.1", "localhost")
        with local_server(lambda r: Reply(302, b"", {"Location": other + "/stats"})) as origin:
            source = HttpStatsSource(origin.url + "/stats", CREDENTIALS[style], timeout=2)
            source.read()
    assert origin.received[0].headers.get("Authorization") or origin.received[0].headers.get("X-Api-Key")
    [followed] = elsewhere.received
    sent = {k.lower(): v for k, v in followed.headers.items()}
    assert "authorization" not in sent
    assert "x-api-key" not in sent
    assert "s3cr3t" not in repr(followed.headers)


def test_credentials_follow_a_redirect_on_the_same_origin() -> None:
    def answer(request: object) -> Reply:
        path = getattr(request, "path", "")
        return json_reply(STATS) if path == "/real" else Reply(302, b"", {"Location": "/real"})

    with local_server(answer) as server:
        HttpStatsSource(server.url + "/stats", CREDENTIALS["custom-header"], timeout=2).read()
    assert [r.headers.get("X-Api-Key") for r in server.received] == ["s3cr3t-key", "s3cr3t-key"]


def test_no_cookie_travels_between_stats_reads_and_slack() -> None:
    def stats(request: object) -> Reply:
        reply = json_reply(STATS)
        reply.headers["Set-Cookie"] = "rack.session=s3cr3t-session; path=/"
        return reply

    session = new_session()
    with local_server(stats) as sidekiq, local_server(lambda r: Reply(200, b"ok")) as slack:
        source = HttpStatsSource(sidekiq.url + "/stats", StatsAuth(), timeout=2, session=session)
        source.read()
        source.read()
        SlackWebhook(Secret("SLACK_WEBHOOK_URL", slack.url + "/hook"), timeout=2, session=session).post(
            {"text": "x"}
        )
    assert [r.headers.get("Cookie") for r in sidekiq.received] == [None, None]
    assert slack.received[0].headers.get("Cookie") is None
    assert not session.cookies


def test_a_session_keeps_no_cookie_a_peer_sets() -> None:
    session = new_session()
    with local_server(lambda r: Reply(200, b"ok", {"Set-Cookie": "x=1"})) as server:
        send(session, "GET", server.url, location="p", timeout=2)
    assert "x" not in session.cookies


def test_the_batch_function_answers_a_retryable_502_before_its_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A webhook peer that never answers, a 10 s HTTP timeout and 3 retries: Lambda would kill it."""
    from sidekiq_watch.handlers import batch_webhook

    with raw_server(lambda connection: time.sleep(30)) as url:
        config = tmp_path / "batches.yaml"
        config.write_text(f"channels:\n  hook:\n    type: webhook\n    url: {url}/hook\n")
        monkeypatch.setenv("BATCH_CONFIG", str(config))
        monkeypatch.setenv("BATCH_AUTH", "none")
        monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "10")
        event = load_event("batch-complete-with-failures.json")
        lambda_timeout = 6
        started = time.monotonic()
        result = batch_webhook.handler(
            event, LocalContext(FunctionSpec("B", "", lambda_timeout, 256, {}, []))
        )
        elapsed = time.monotonic() - started
    assert result["statusCode"] == 502
    assert elapsed < lambda_timeout


def test_the_poller_reports_before_its_timeout_when_slack_never_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sidekiq_watch.errors import SidekiqWatchError
    from sidekiq_watch.handlers import poller

    with raw_server(lambda connection: time.sleep(30)) as url:
        stats = tmp_path / "stats.json"
        stats.write_text('{"enqueued": 0, "queues": {}, "retries": 99}')
        monkeypatch.setenv("SIDEKIQ_STATS_URL", str(stats))
        monkeypatch.setenv("SLACK_WEBHOOK_URL", url + "/hook")
        monkeypatch.setenv("STATE_FILE", str(tmp_path / "state.json"))
        monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "10")
        lambda_timeout = 9
        started = time.monotonic()
        with pytest.raises(SidekiqWatchError):  # transient: Lambda's retry takes over
            poller.handler({}, LocalContext(FunctionSpec("P", "", lambda_timeout, 256, {}, [])))
        elapsed = time.monotonic() - started
    assert elapsed < lambda_timeout


def test_a_429_asking_for_an_hour_is_not_waited_for() -> None:
    peer = Counting(
        lambda c: c.sendall(b"HTTP/1.1 429 Slow down\r\nRetry-After: 3600\r\nContent-Length: 0\r\n\r\n")
    )
    with raw_server(peer) as url:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            webhook(url + "/hook").post({"text": "hi"})
        elapsed = time.monotonic() - started
    assert not caught.value.permanent
    assert peer.count == 1
    assert elapsed < 1
