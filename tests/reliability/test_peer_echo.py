"""Secrets that come back through peers (issue 23, item 10): a failing peer that echoes its path
(Express's default 404 does) or its headers must not put the URL's token, a header's secret or a
password into the 502 body the sender sees; the log keeps a short excerpt with each of them masked."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.intake import IncomingRequest, receive
from sidekiq_watch.channels import Resources
from sidekiq_watch.http import RetryPolicy
from sidekiq_watch.settings import load_batch_settings
from tests.support.servers import Reply, local_server

pytestmark = pytest.mark.integration

TOKEN = "s3cr3tPathToken42"
HEADER = "s3cr3tHeaderValue7"
PASSWORD = "s3cr3tBasicPassw0rd"


def echo(request: object) -> Reply:
    """Answers 404 (and 503) with everything it was sent, as a careless peer does."""
    path = getattr(request, "path", "")
    headers = getattr(request, "headers", {})
    status = 503 if "busy" in path else 404
    return Reply(status, f"Cannot POST {path} {dict(headers)!r}".encode())


@pytest.mark.parametrize("path", [f"/hooks/{TOKEN}", f"/h?token={TOKEN}", f"/busy/{TOKEN}"])
def test_a_failing_peers_echo_never_reaches_the_sender_and_is_masked_in_the_log(
    tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with local_server(echo) as peer:
        config = parse_batch_config(
            {
                "channels": {
                    "hook": {
                        "type": "webhook",
                        "url": peer.url + path,
                        "username": "sidekiq",
                        "password": PASSWORD,
                        "headers": {"X-Secret": HEADER},
                    }
                }
            },
            "t",
        )
        log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "d.json"))
        resources = Resources(timeout=2, policy=RetryPolicy(attempts=1))
        with caplog.at_level(logging.DEBUG):
            reply = receive(
                load_batch_settings({"BATCH_AUTH": "none"}).admission,
                IncomingRequest({}, json.dumps({"bid": "b1", "pending": 0}).encode()),
                lambda: config,
                resources,
                log,
            )
    assert reply.status == 502
    body = json.dumps(reply.body)
    assert "Cannot POST" not in body  # no peer text at all for the sender
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("sidekiq_watch").info("Batch notification", extra=reply.log_details)
    basic = base64.b64encode(f"sidekiq:{PASSWORD}".encode()).decode()
    for secret in (TOKEN, HEADER, PASSWORD, basic):
        assert secret not in body
        assert secret not in caplog.text
        assert secret not in repr(reply.log_details)
    assert "Cannot POST" in repr(reply.log_details)  # the operator keeps an excerpt
