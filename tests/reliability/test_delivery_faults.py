"""Slack and every HTTP batch channel against a real local peer that misbehaves on cue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidekiq_watch.batches.render import batch_message
from sidekiq_watch.channels import Resources, build_channel
from sidekiq_watch.channels.slack import SlackWebhook
from sidekiq_watch.errors import DeliveryError
from sidekiq_watch.http import RetryPolicy
from sidekiq_watch.secrets import Secret
from tests.support.faulty import raw_server, reset_at_once, slow_answer
from tests.support.servers import LocalServer, Received, Reply, local_server
from tests.unit.batches.helpers import sample_event

pytestmark = pytest.mark.integration
POLICY = RetryPolicy(attempts=3, backoff_seconds=0.01, max_retry_after_seconds=2.0)


class Script:
    """Answers the listed replies in turn, then the last one for ever."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def __call__(self, request: Received) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture
def peer() -> Iterator[LocalServer]:
    with local_server(Script(Reply())) as server:
        yield server


def slack_to(url: str, timeout: float = 2.0) -> SlackWebhook:
    return SlackWebhook(
        Secret("SLACK_WEBHOOK_URL", f"{url}/services/T/B/s3cr3t-hook"), timeout=timeout, policy=POLICY
    )


def channel_to(kind: str, url: str) -> Any:
    options: dict[str, dict[str, Any]] = {
        "slack": {"webhook_url": f"{url}/services/T/B/s3cr3t"},
        "webhook": {"url": f"{url}/hook"},
        "campfire": {"url": f"{url}/rooms/1/2-s3cr3t/messages"},
        "hipchat": {"server": url, "room_id": "1", "token": "s3cr3t-token"},
        "teams": {"webhook_url": f"{url}/webhookb2/s3cr3t"},
    }
    return build_channel(kind, options[kind], f"channels.{kind}")


PERMANENT = [
    Reply(400, b"invalid_payload"),
    Reply(403, b"invalid_token"),
    Reply(404, b"no_service"),
    Reply(410, b"channel_is_archived"),
]


@pytest.mark.parametrize("reply", PERMANENT, ids=lambda r: r.body.decode())
def test_slack_rejections_are_permanent_after_one_attempt(peer: LocalServer, reply: Reply) -> None:
    peer.respond_with(Script(reply))
    with pytest.raises(DeliveryError) as caught:
        slack_to(peer.url).post({"text": "x"})
    assert caught.value.permanent
    assert caught.value.remote_error == reply.body.decode()
    assert len(peer.received) == 1
    assert "s3cr3t" not in str(caught.value)


def test_429_with_retry_after_waits_and_succeeds(peer: LocalServer, no_sleep: list[float]) -> None:
    peer.respond_with(Script(Reply(429, b"rate_limited", {"Retry-After": "1"}), Reply()))
    slack_to(peer.url).post({"text": "x"})
    assert len(peer.received) == 2
    assert no_sleep == [1.0]  # it waited exactly as long as Slack asked


def test_429_without_retry_after_backs_off_and_is_bounded(peer: LocalServer) -> None:
    peer.respond_with(Script(Reply(429, b"rate_limited")))
    with pytest.raises(DeliveryError) as caught:
        slack_to(peer.url).post({"text": "x"})
    assert not caught.value.permanent
    assert len(peer.received) == 3


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_then_transient(peer: LocalServer, status: int) -> None:
    peer.respond_with(Script(Reply(status, b"oops")))
    with pytest.raises(DeliveryError, match=f"HTTP {status}") as caught:
        slack_to(peer.url).post({"text": "x"})
    assert not caught.value.permanent
    assert len(peer.received) == 3


def test_server_error_then_success_delivers_once(peer: LocalServer) -> None:
    peer.respond_with(Script(Reply(503, b""), Reply()))
    slack_to(peer.url).post({"text": "x"})
    assert len(peer.received) == 2


def test_connection_reset_is_transient_and_bounded() -> None:
    attempts = []

    def counting(connection: Any) -> None:
        attempts.append(1)
        reset_at_once(connection)

    with raw_server(counting) as url, pytest.raises(DeliveryError) as caught:
        slack_to(url).post({"text": "x"})
    assert not caught.value.permanent
    assert len(attempts) == 3


def test_answers_slower_than_the_timeout_are_transient() -> None:
    with raw_server(slow_answer(3.0)) as url, pytest.raises(DeliveryError, match="timed out") as caught:
        slack_to(url, timeout=0.3).post({"text": "x"})
    assert not caught.value.permanent


@pytest.mark.parametrize("kind", ["slack", "webhook", "campfire", "hipchat", "teams"])
@pytest.mark.parametrize(
    ("replies", "permanent", "attempts"),
    [
        ((Reply(400, b"bad"),), True, 1),
        ((Reply(403, b"denied"),), True, 1),
        ((Reply(404, b"gone"),), True, 1),
        ((Reply(429, b"slow down", {"Retry-After": "0"}),), False, 3),
        ((Reply(500, b""),), False, 3),
        ((Reply(503, b""), Reply(204, b"")), None, 2),
    ],
    ids=["400", "403", "404", "429", "500", "503-then-ok"],
)
def test_every_http_channel_has_the_same_failure_semantics(
    peer: LocalServer,
    kind: str,
    replies: tuple[Reply, ...],
    permanent: bool | None,
    attempts: int,
    no_sleep: list[float],
) -> None:
    peer.respond_with(Script(*replies))
    channel = channel_to(kind, peer.url)
    resources = Resources(timeout=2, policy=POLICY)
    if permanent is None:
        channel.deliver(batch_message(sample_event()), resources)
    else:
        with pytest.raises(DeliveryError) as caught:
            channel.deliver(batch_message(sample_event()), resources)
        assert caught.value.permanent is permanent
        assert "s3cr3t" not in str(caught.value)
    assert len(peer.received) == attempts


def test_no_duplicate_once_the_state_says_delivered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sidekiq_watch.cli import main

    state = tmp_path / "state.json"
    stats = tmp_path / "stats.json"
    stats.write_text('{"sidekiq": {"retries": 99, "processes": 1}}')
    with local_server(Script(Reply(503, b""), Reply())) as slack:
        args = [
            "poll",
            "--stats-url",
            str(stats),
            "--webhook-url",
            f"{slack.url}/hook",
            "--state",
            str(state),
        ]
        main(args)
        # Past the claim's lease (300 s): only the confirming write keeps the next polls quiet.
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() + 600)
        for _ in range(2):
            main(args)
    texts = [r.json()["text"] for r in slack.received]
    assert len(texts) == 2  # the 503, then the one that got through: nothing after it
