"""Sidekiq Pro's `death` callback (a job in the batch died, Pro 5+), issue 25: accepted at intake,
told by every channel with the batch, the dead job's class and error and a link to the Dead tab, and
delivered once per (batch, event, channel) even when Pro 7.0.x fires it once per dead job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.intake import IncomingRequest, Reply, receive
from sidekiq_watch.batches.payload import BatchEvent, BatchStatus
from sidekiq_watch.batches.render import batch_message, title
from sidekiq_watch.channels import Resources
from sidekiq_watch.channels.message import as_plain_text
from sidekiq_watch.channels.slack import slack_payload
from sidekiq_watch.errors import ConfigError
from sidekiq_watch.settings import load_batch_settings

SLACK = "https://hooks.slack.com/services/T0/B0/s3cr3t"
WEB = "https://app.example.com/sidekiq"
CONFIG = parse_batch_config({"web_url": WEB, "channels": {"slack": {"webhook_url": SLACK}}}, "t")
DEATH = {
    "bid": "b1",
    "event": "death",
    "total": 10,
    "failures": 1,
    "pending": 1,
    "description": "Nightly import",
    "failure_info": [{"jid": "j9", "error_class": "ImportError", "error_message": "row 7 is bad"}],
    "dead_jobs": [{"jid": "j9", "class": "ImportRowJob", "error_class": "ImportError"}],
}


def send(tmp_path: Path, body: dict[str, Any], query: dict[str, str] | None = None) -> Reply:
    log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
    request = IncomingRequest({}, json.dumps(body).encode(), query or {})
    admission = load_batch_settings({"BATCH_AUTH": "none"}).admission
    return receive(admission, request, lambda: CONFIG, Resources(timeout=2), log)


def death() -> BatchEvent:
    return BatchEvent(BatchStatus.model_validate(DEATH), "death")


def test_the_message_names_the_batch_the_dead_job_and_links_the_dead_tab() -> None:
    event = death()
    assert title(event) == "Sidekiq batch b1 (Nightly import): a job died"
    text = as_plain_text(batch_message(event, WEB))
    assert "ImportRowJob" in text
    assert "ImportError" in text
    assert f"{WEB}/morgue" in text
    blocks = json.dumps(slack_payload(batch_message(event, WEB)))
    assert f"<{WEB}/morgue|Dead jobs in Sidekiq Web>" in blocks
    assert "ImportRowJob" in blocks


@responses.activate
def test_death_is_delivered_once_per_channel_though_pro_fires_it_per_dead_job(tmp_path: Path) -> None:
    responses.post(SLACK, body="ok")
    first = send(tmp_path, DEATH)
    again = send(tmp_path, {**DEATH, "failures": 2, "dead_jobs": [{"jid": "j10", "class": "ImportRowJob"}]})
    assert [d["status"] for d in first.body["deliveries"] + again.body["deliveries"]] == [
        "delivered",
        "already_delivered",
    ]
    assert len(responses.calls) == 1
    assert first.body["event"] == "death"


@responses.activate
def test_death_by_query_string_too(tmp_path: Path) -> None:
    responses.post(SLACK, body="ok")
    body = {k: v for k, v in DEATH.items() if k != "event"}
    assert send(tmp_path, body, {"event": "death"}).body["event"] == "death"


def test_a_route_may_choose_deaths() -> None:
    config = parse_batch_config(
        {
            "channels": {"slack": {"webhook_url": SLACK}},
            "routes": [{"events": ["death"], "channels": ["slack"]}],
        },
        "t",
    )
    assert config.route_for(death()) is not None
    with pytest.raises(ConfigError, match="complete, success and/or death"):
        parse_batch_config(
            {"channels": {"slack": {"webhook_url": SLACK}}, "routes": [{"events": ["died"]}]}, "t"
        )
