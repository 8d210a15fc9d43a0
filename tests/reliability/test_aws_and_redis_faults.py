"""AWS and Redis failing underneath: clear errors, nothing posted that is not recorded, nothing lost."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from sidekiq_watch.alerts.config import Target, WatchConfig
from sidekiq_watch.alerts.persistence.dynamodb import DynamoDBStore
from sidekiq_watch.alerts.persistence.exceptions import StateStoreError
from sidekiq_watch.alerts.rules import parse_rule
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.fanout import fan_out
from sidekiq_watch.channels import Resources, build_channel
from sidekiq_watch.errors import SecretError, SourceError
from sidekiq_watch.poll import Watcher
from sidekiq_watch.secrets import Secret
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.redis_source import RedisStatsSource
from sidekiq_watch.stats.snapshot import Snapshot
from tests.support.faulty import raw_server, reset
from tests.support.servers import Reply, local_server
from tests.unit.batches.helpers import sample_event

pytestmark = pytest.mark.integration


class Loud:
    location = "test"

    def read(self) -> Snapshot:
        return Snapshot("sidekiq_web_stats", retries=99, processes=1)


class Recorder:
    description = "recorded"

    def __init__(self) -> None:
        self.sent: list[Any] = []

    name = "slack"
    kind = "slack"

    def deliver(self, message: Any, resources: Any) -> str:
        from sidekiq_watch.channels.slack import slack_payload

        self.post(slack_payload(message))
        return "posted"

    def post(self, payload: Any) -> None:
        self.sent.append(payload)


def watcher_with(store: Any, slack: Recorder) -> Watcher:
    target = Target("shop", "https://shop.example.com/s", StatsAuth(), (parse_rule("retries > 50", "r"),))
    return Watcher(WatchConfig((target,)), store, source_for=lambda t: Loud(), channel_for=lambda t: slack)


def test_dynamodb_throttling_is_a_clear_error_and_nothing_is_posted() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error("query", "ProvisionedThroughputExceededException", "Rate exceeded", 400)
    slack = Recorder()
    with stubber:
        [report] = watcher_with(DynamoDBStore("state", client=client), slack).poll_all()
    assert isinstance(report.failure, StateStoreError)
    # The poll's first read is the silences, kept in the same table: it fails the poll the same way.
    assert str(report.failure) == (
        "DynamoDB table state: reading the silences failed (ProvisionedThroughputExceededException)"
    )
    assert slack.sent == []


def test_throttled_claim_posts_nothing() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response("query", {"Items": [], "Count": 0, "ScannedCount": 0})  # the silences
    stubber.add_response("query", {"Items": [], "Count": 0, "ScannedCount": 0})  # the target's state
    stubber.add_client_error("put_item", "ThrottlingException", "slow down", 400)
    slack = Recorder()
    with stubber:
        [report] = watcher_with(DynamoDBStore("state", client=client), slack).poll_all()
    assert isinstance(report.failure, StateStoreError)
    assert "ThrottlingException" in str(report.failure)
    assert slack.sent == []


def test_ssm_access_denied_says_to_check_the_iam_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    def denied(*args: object, **kwargs: object) -> str:
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized on s3cr3t-path"}}
        raise ClientError(error, "GetParameter")  # type: ignore[arg-type]

    monkeypatch.setattr(parameters, "get_parameter", denied)
    with pytest.raises(SecretError) as caught:
        Secret("SLACK_WEBHOOK_URL", "ssm:/sw/slack").reveal()
    assert str(caught.value) == (
        "SLACK_WEBHOOK_URL: could not read ssm:/sw/slack: access denied (check the function's IAM policy)"
    )


def test_ses_rejection_is_retried_later_while_delivered_channels_are_not_repeated(
    aws: None, tmp_path: Path
) -> None:
    with local_server(lambda r: Reply()) as hook:
        channels = (
            build_channel(
                "email", {"from": "batches@example.com", "to": ["ops@example.com"]}, "channels.email"
            ),
            build_channel("hook", {"type": "webhook", "url": f"{hook.url}/b"}, "channels.hook"),
        )
        log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
        first = fan_out(sample_event(), channels, Resources(timeout=2), log)
        boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")  # the operator verifies it
        second = fan_out(sample_event(), channels, Resources(timeout=2), log)
    assert [(o.channel, o.status) for o in first] == [("email", "failed"), ("hook", "delivered")]
    assert "MessageRejected" in first[0].detail
    assert [(o.channel, o.status) for o in second] == [("email", "delivered"), ("hook", "already_delivered")]
    assert len(hook.received) == 1


def fake_redis_dropping_the_pipeline(connection: socket.socket) -> None:
    """Answers the connection handshake, then resets the connection half-way through the stats pipeline."""
    while True:
        data = read_request_resp(connection)
        if not data:
            return
        if b"stat:processed" in data:
            connection.sendall(b"$-1\r\n")  # one answer of seven, then the line dies
            reset(connection)
            return
        commands = max(1, len(re.findall(rb"(?:^|\r\n)\*\d+\r\n", data)))
        connection.sendall(b"+OK\r\n" * commands)


def read_request_resp(connection: socket.socket) -> bytes:
    connection.settimeout(5)
    try:
        return connection.recv(65536)
    except OSError:
        return b""


def test_redis_lost_mid_pipeline_is_a_connection_error() -> None:
    with raw_server(fake_redis_dropping_the_pipeline) as url:
        redis_url = url.replace("http://", "redis://") + "/0"
        with pytest.raises(SourceError, match="cannot talk to Redis") as caught:
            RedisStatsSource(redis_url, StatsAuth(), timeout=2).read()
    assert caught.value.kind == "connect"
