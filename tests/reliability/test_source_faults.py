"""Every way reading the stats can fail, against real sockets on 127.0.0.1: classified, worded, bounded."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from sidekiq_watch.cli import EXIT_ALERT, main
from sidekiq_watch.errors import SourceError
from sidekiq_watch.http import NO_RETRY
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.sources import HttpStatsSource
from tests.support.faulty import endless_body, raw_server, reset_mid_body, unreachable_port
from tests.support.servers import Received, Reply, json_reply, local_server, silent_server

pytestmark = pytest.mark.integration


@contextmanager
def refused() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextmanager
def answering(reply: Callable[[Received], Reply]) -> Iterator[str]:
    with local_server(reply) as server:
        yield server.url


def login_redirect(request: Received) -> Reply:
    if request.path == "/login":
        return Reply(200, b"<html>Sign in</html>", {"Content-Type": "text/html"})
    return Reply(301, b"", {"Location": "/login"})


SCENARIOS: dict[str, tuple[Callable[[], AbstractContextManager[str]], str, str]] = {
    "connection refused": (refused, "connect", r"could not connect \(connection refused\)"),
    "timeout while connecting": (unreachable_port, "timeout", "timed out while connecting"),
    "accepts and never answers": (silent_server, "timeout", "timed out waiting for an answer"),
    "reset mid-body": (lambda: raw_server(reset_mid_body), "reset", "cut off|closed or reset"),
    "301 to a login page": (lambda: answering(login_redirect), "login_redirect", "redirected to /login"),
    "401": (lambda: answering(lambda r: Reply(401, b"")), "http_status", "HTTP 401: access refused"),
    "403": (lambda: answering(lambda r: Reply(403, b"")), "http_status", "HTTP 403: access refused"),
    "500": (lambda: answering(lambda r: Reply(500, b"")), "http_status", "HTTP 500"),
    "502": (lambda: answering(lambda r: Reply(502, b"")), "http_status", "HTTP 502"),
    "503": (lambda: answering(lambda r: Reply(503, b"")), "http_status", "HTTP 503"),
    "HTML body": (
        lambda: answering(lambda r: Reply(200, b"<html>hi</html>", {"Content-Type": "text/html"})),
        "not_json",
        "answered with HTML",
    ),
    "truncated JSON": (
        lambda: answering(lambda r: Reply(200, b'{"retries": 6', {"Content-Type": "application/json"})),
        "not_json",
        "not JSON at byte",
    ),
    "foreign JSON": (
        lambda: answering(lambda r: json_reply({"status": "green", "uptime": 3})),
        "unknown_shape",
        "keys 'status', 'uptime'",
    ),
    "negative number": (
        lambda: answering(lambda r: json_reply({"retries": -4})),
        "bad_value",
        "retries is -4: a count cannot be negative",
    ),
    "50 MB body": (lambda: raw_server(endless_body), "too_large", "exceeds the 1048576-byte limit"),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_fault_is_classified_in_words(scenario: str, no_sleep: list[float]) -> None:
    make_peer, kind, words = SCENARIOS[scenario]
    with make_peer() as url:
        source = HttpStatsSource(f"{url}/sidekiq/stats", StatsAuth(), timeout=1.0, policy=NO_RETRY)
        with pytest.raises(SourceError, match=words) as caught:
            source.read()
    assert caught.value.kind == kind
    assert str(caught.value).startswith(f"GET {url}/sidekiq/stats: ")


def test_dns_failure_is_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    source = HttpStatsSource(
        "http://sidekiq.internal.example/stats", StatsAuth(), timeout=1.0, policy=NO_RETRY
    )
    with pytest.raises(SourceError, match="could not be resolved") as caught:
        source.read()
    assert caught.value.kind == "dns"


def test_numbers_as_strings_are_read(no_sleep: list[float]) -> None:
    with answering(lambda r: json_reply({"enqueued": "3", "retries": "61"})) as url:
        assert HttpStatsSource(url, StatsAuth(), timeout=1.0).read().retries == 61


def test_retries_of_a_failing_source_are_bounded(no_sleep: list[float]) -> None:
    with local_server(lambda r: Reply(503, b"")) as server, pytest.raises(SourceError):
        HttpStatsSource(server.url, StatsAuth(), timeout=1.0).read()
    assert len(server.received) == 2  # one retry, then the poll reports


def test_a_hanging_source_alerts_after_two_polls_and_the_state_counts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    with silent_server() as hanging, local_server(lambda r: Reply()) as slack:
        args = [
            "poll",
            "--stats-url",
            f"{hanging}/stats",
            "--source-name",
            "shop",
            "--timeout",
            "0.5",
            "--webhook-url",
            f"{slack.url}/hook",
            "--state",
            str(state),
        ]
        assert main(args) == EXIT_ALERT
        records = json.loads(state.read_text())["targets"]["shop"]["records"]
        assert records["source readable"]["failures"] == 1
        assert slack.received == []
        assert main(args) == EXIT_ALERT
    [post] = slack.received
    assert "timed out waiting for an answer" in post.json()["blocks"][1]["text"]["text"]
    records = json.loads(state.read_text())["targets"]["shop"]["records"]
    assert (records["source readable"]["status"], records["source readable"]["failures"]) == ("firing", 2)
