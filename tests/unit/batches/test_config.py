from typing import Any

import pytest

from sidekiq_watch.batches.config import merge, parse_batch_config
from sidekiq_watch.errors import ConfigError
from tests.unit.batches.helpers import sample_event

DOC: dict[str, Any] = {
    "channels": {
        "slack": {"webhook_url": "ssm:/sw/slack", "channel": "#batches"},
        "ops-hook": {
            "type": "webhook",
            "url": "https://hooks.example.com/b",
            "headers": {"X-A": "1", "X-B": "2"},
        },
    },
    "routes": [
        {
            "name": "imports",
            "events": ["complete"],
            "description": "Nightly import*",
            "channels": {"slack": {"channel": "#imports"}, "ops-hook": {"headers": {"X-B": "override"}}},
        },
        {"name": "rest", "channels": ["slack"]},
    ],
}


def test_route_options_are_merged_over_the_defaults() -> None:
    route = parse_batch_config(DOC, "test").route_for(sample_event())
    assert route is not None
    assert route.name == "imports"
    slack, hook = route.channels
    assert (slack.channel, slack.webhook_url.reference) == ("#imports", "ssm:/sw/slack")  # type: ignore[attr-defined]
    assert hook.headers == {"X-A": "1", "X-B": "override"}  # type: ignore[attr-defined]


def test_first_matching_route_wins_and_events_filter() -> None:
    config = parse_batch_config(DOC, "test")
    success = sample_event("batch-success-after-retries.json", "success")
    route = config.route_for(success)
    assert route is not None
    assert route.name == "rest"
    assert [c.name for c in route.channels] == ["slack"]


def test_without_routes_every_default_channel_hears_every_event() -> None:
    config = parse_batch_config({"channels": DOC["channels"]}, "test")
    route = config.route_for(sample_event("batch-success.json"))
    assert route is not None
    assert [c.name for c in route.channels] == ["slack", "ops-hook"]


def test_bid_pattern() -> None:
    config = parse_batch_config(
        {"channels": DOC["channels"], "routes": [{"bid": "zz*", "channels": ["slack"]}]}, "t"
    )
    assert config.route_for(sample_event()) is None


def test_merge_is_deep_and_the_override_wins() -> None:
    assert merge({"a": 1, "h": {"x": 1, "y": 2}}, {"a": 2, "h": {"y": 3}}) == {"a": 2, "h": {"x": 1, "y": 3}}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"channels": {}}, "no channels configured"),
        ({"channels": {"slack": {}}}, r"channels.slack.webhook_url: required"),
        (
            {"channels": DOC["channels"], "routes": [{"name": "x", "events": ["done"]}]},
            r"routes\[0\] \(x\).events: expected complete, success and/or death",
        ),
        (
            {
                "channels": DOC["channels"],
                "routes": [{"name": "x", "channels": {"slack": {"colour": "red"}}}],
            },
            r"routes\[0\] \(x\).channels.slack: unknown option\(s\) colour",
        ),
        (
            {"channels": DOC["channels"], "routes": [{"name": "x", "channels": ["pager"]}]},
            r"routes\[0\] \(x\).channels.pager: unknown channel type 'pager'",
        ),
        ({"channels": DOC["channels"], "route": []}, r"unknown field\(s\) route"),
    ],
)
def test_bad_configuration_names_the_route_channel_and_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_batch_config(doc, "test")
