"""Each batch picks its channels and overrides their options, as in Sidekiq Pro 2: merged over the
matching route's, merged over the defaults; only what the configuration lets a batch set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.intake import IncomingRequest, Reply, receive
from sidekiq_watch.channels import Resources
from sidekiq_watch.settings import load_batch_settings

SLACK = "https://hooks.slack.com/services/T0/B0/s3cr3t-batches"
HOOK = "https://hooks.example.com/default"
CONFIG = parse_batch_config(
    {
        "channels": {
            "slack": {"webhook_url": SLACK, "channel": "#batches", "username": "sidekiq"},
            "hook": {
                "type": "webhook",
                "url": HOOK,
                "allow_destinations": ["https://hooks.example.com/teams/*"],
            },
            "ops": {"type": "webhook", "url": "https://ops.example.com/x"},
        },
        "routes": [
            {"name": "imports", "description": "Import*", "channels": {"slack": {"channel": "#imports"}}},
            {"name": "rest", "channels": ["ops"]},
        ],
    },
    "test",
)
SETTINGS = load_batch_settings({"BATCH_AUTH": "none"}).admission


def send(tmp_path: Path, **fields: Any) -> Reply:
    body = json.dumps({"bid": "b1", "pending": 0, **fields}).encode()
    log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
    return receive(SETTINGS, IncomingRequest({}, body), lambda: CONFIG, Resources(timeout=2), log)


def posted(url: str) -> list[dict[str, Any]]:
    return [json.loads(call.request.body) for call in responses.calls if call.request.url == url]


@responses.activate
def test_a_batch_hears_on_exactly_the_channels_it_names_with_its_options_on_top(tmp_path: Path) -> None:
    responses.post(SLACK, body="ok")
    reply = send(tmp_path, description="Import of orders", notify={"slack": {"username": "orders-bot"}})
    assert reply.status == 200
    assert [d["channel"] for d in reply.body["deliveries"]] == ["slack"]
    [message] = posted(SLACK)
    # defaults < the matching route (#imports) < the batch (username)
    assert (message["channel"], message["username"]) == ("#imports", "orders-bot")


@responses.activate
def test_a_batch_that_names_nothing_follows_the_routes(tmp_path: Path) -> None:
    responses.post("https://ops.example.com/x", status=204)
    reply = send(tmp_path, description="Other work")
    assert [d["channel"] for d in reply.body["deliveries"]] == ["ops"]


@pytest.mark.parametrize(
    ("notify", "named"),
    [
        ({"pager": {}}, "notify.pager: no such channel"),
        ({"hook": {"url": "https://evil.example.com/steal"}}, "notify.hook.url: not a destination"),
        ({"slack": {"webhook_url": "https://hooks.slack.com/services/T9/B9/x"}}, "notify.slack.webhook_url"),
        ({"slack": {"channel": "ssm:/sidekiq-watch/slack-webhook-url"}}, "notify.slack.channel"),
        ({"hook": {"headers": {"Authorization": "x"}}}, "notify.hook.headers"),
    ],
)
@responses.activate
def test_what_a_batch_may_not_ask_for_is_a_422_and_nothing_is_delivered(
    tmp_path: Path, notify: dict[str, Any], named: str
) -> None:
    reply = send(tmp_path, notify={**notify, "slack": notify.get("slack", {})})
    assert reply.status == 422
    assert any(named in d["problem"] for d in reply.body["details"]), reply.body
    assert len(responses.calls) == 0
    assert "evil.example.com" not in json.dumps(reply.body)


@responses.activate
def test_a_destination_the_configuration_allow_lists_may_be_set(tmp_path: Path) -> None:
    team = "https://hooks.example.com/teams/imports"
    responses.post(team, status=204)
    reply = send(tmp_path, notify={"hook": {"url": team}})
    assert reply.status == 200
    [payload] = posted(team)
    assert "notify" not in payload  # instructions are not passed on to consumers


@responses.activate
def test_exactly_once_per_channel_holds_for_a_batchs_own_choice(tmp_path: Path) -> None:
    responses.post(SLACK, body="ok")
    first = send(tmp_path, notify={"slack": {"channel": "#a"}})
    again = send(tmp_path, notify={"slack": {"channel": "#a"}})
    assert [d["status"] for d in first.body["deliveries"] + again.body["deliveries"]] == [
        "delivered",
        "already_delivered",
    ]
    assert len(posted(SLACK)) == 1
