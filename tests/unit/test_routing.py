"""Routing (issue 26): receivers by name, an Alertmanager-style tree, and each receiver told each
transition exactly once, with state of its own (a failing pager never re-posts chat)."""

from __future__ import annotations

from typing import Any

import pytest

from sidekiq_watch.alerts.config import WatchConfig, load_watch_config
from sidekiq_watch.alerts.persistence import AlertStore
from sidekiq_watch.alerts.receivers import ConfiguredReceivers
from sidekiq_watch.alerts.routing import Route, parse_route
from sidekiq_watch.errors import ConfigError, DeliveryError
from sidekiq_watch.poll import Watcher
from sidekiq_watch.settings import load_poller_settings
from tests.unit.test_watcher import MINUTE, Clock, Sidekiq, Slack

STATS = "https://shop.example.com/sidekiq/stats"
TEAM = {
    "receivers": [
        {"name": "ops-chat", "slack": {"webhook_url": "https://hooks.slack.com/services/T/B/chat"}},
        {"name": "pager", "pagerduty": {"routing_key": "ssm:/sidekiq-watch/pd-key"}},
    ],
    "route": {
        "receiver": "ops-chat",
        "routes": [{"match": {"severity": "critical"}, "receiver": "pager", "continue": True}],
    },
    "targets": [
        {"name": "shop", "url": STATS, "rules": [{"figure": "retries", "warning": 50, "critical": 100}]}
    ],
}


def config(document: dict[str, Any]) -> WatchConfig:
    return load_watch_config(load_poller_settings({}), document, "test")


def labels(severity: str, target: str = "shop", rule: str = "retries > 50/100") -> dict[str, str]:
    return {"target": target, "rule": rule, "severity": severity}


def test_first_match_wins_unless_continue_and_nothing_matched_goes_to_the_parent() -> None:
    names = {"chat", "pager", "billing", "db"}
    route = parse_route(
        {
            "receiver": "chat",
            "routes": [
                {"match": {"severity": "critical"}, "receiver": "pager", "continue": True},
                {"match": {"target": "billing*"}, "receiver": "billing"},
                {"match": {"rule": "redis_*"}, "receiver": "db"},
                {"match": {"rule": "*"}, "routes": [{"match": {"severity": "warning"}}]},  # inherits chat
            ],
        },
        names,
    )
    assert route.receivers(labels("critical")) == ("pager", "chat")
    assert route.receivers(labels("critical", target="billing-eu")) == ("pager", "billing")
    assert route.receivers(labels("warning", target="billing")) == ("billing",)
    assert route.receivers(labels("warning", rule="redis_evicts > 0")) == ("db",)
    assert route.receivers(labels("warning")) == ("chat",)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"routes": []}, r"route.receiver: the top route needs a receiver"),
        ({"receiver": "nobody"}, r"route.receiver: no receiver named 'nobody' \(receivers: ops-chat, pager"),
        ({"receiver": "pager", "match": {"severity": "x"}}, r"route.match: the top route matches everything"),
        (
            {"receiver": "pager", "routes": [{"match": {"colour": "red"}}]},
            r"route.routes\[0\].match: unknown label 'colour'",
        ),
        (
            {"receiver": "pager", "routes": [{"continue": "yes"}]},
            r"route.routes\[0\].continue: expected true or false",
        ),
    ],
)
def test_a_bad_route_is_refused_naming_where(route: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config({**TEAM, "route": route})


@pytest.mark.parametrize(
    ("receivers", "message"),
    [
        ([{"name": "x"}], r"receivers\[0\] \(x\): name exactly one channel kind"),
        ([{"name": "x", "pagerduty": {}}], r"receivers\[0\].pagerduty.routing_key: required"),
        (
            [{"name": "x", "slack": {"webhook_url": "https://h"}, "teams": {}}],
            r"name exactly one channel kind",
        ),
        (
            [{"name": "x", "print": {}}, {"name": "x", "print": {}}],
            r"receivers\[1\].name: 'x' is named twice",
        ),
    ],
)
def test_a_bad_receiver_is_refused_naming_where(receivers: list[Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config({**TEAM, "receivers": receivers})


def test_receivers_without_a_route_are_refused() -> None:
    with pytest.raises(ConfigError, match="route: receivers are named but no route"):
        config({k: v for k, v in TEAM.items() if k != "route"})


def test_a_target_s_own_webhook_stays_its_receiver_under_a_route() -> None:
    document = {**TEAM, "targets": [{**TEAM["targets"][0], "slack_webhook_url": "https://hooks.slack.com/x"}]}
    route = config(document).route
    assert isinstance(route, Route)
    assert route.receivers(labels("warning")) == ("slack:shop",)
    assert route.receivers(labels("warning", target="other")) == ("ops-chat",)


class Receivers:
    """The team's receivers, as fakes that record what each was sent."""

    def __init__(self, watch: WatchConfig) -> None:
        self.route_of = ConfiguredReceivers(load_poller_settings({}), watch)
        self.chat, self.pager = Slack(), Slack()

    def route(self, target: Any, labels: Any) -> tuple[str, ...]:
        return self.route_of.route(target, labels)

    def channel(self, target: Any, name: str) -> Slack:
        return {"ops-chat": self.chat, "pager": self.pager}[name]


def team_watcher(store: AlertStore, sidekiq: Sidekiq, receivers: Receivers, clock: Clock) -> Watcher:
    return Watcher(
        receivers.route_of.config, store, source_for=lambda t: sidekiq, receivers=receivers, clock=clock
    )


def test_critical_pages_and_chats_warning_only_chats_each_told_once(store: AlertStore) -> None:
    sidekiq, clock = Sidekiq(retries=60), Clock()
    receivers = Receivers(config(TEAM))
    watcher = team_watcher(store, sidekiq, receivers, clock)
    watcher.poll_all()
    assert (len(receivers.chat.sent), len(receivers.pager.sent)) == (1, 0)  # warning: chat only
    clock.advance(MINUTE)
    sidekiq.figures["retries"] = 150
    watcher.poll_all()
    assert receivers.chat.texts[-1].startswith("🚨 Sidekiq shop: SEVERITY CHANGED")
    assert receivers.pager.texts == ["🚨 Sidekiq shop: FIRING: retries &gt; 50/100 (retries is 150)"]
    clock.advance(MINUTE)
    watcher.poll_all()  # nothing new for anyone
    assert (len(receivers.chat.sent), len(receivers.pager.sent)) == (2, 1)
    clock.advance(MINUTE)
    sidekiq.figures["retries"] = 70  # back to warning: the pager still hears how it ends
    watcher.poll_all()
    clock.advance(MINUTE)
    sidekiq.figures["retries"] = 0
    watcher.poll_all()
    assert receivers.pager.texts[-1].startswith("✅ Sidekiq shop: RESOLVED")
    assert receivers.chat.texts[-1].startswith("✅ Sidekiq shop: RESOLVED")


# Critical to the pager and, going on matching, to chat as well.
BOTH = {
    **TEAM,
    "route": {
        "receiver": "ops-chat",
        "routes": [
            {"match": {"severity": "critical"}, "receiver": "pager", "continue": True},
            {"match": {"severity": "*"}, "receiver": "ops-chat"},
        ],
    },
}


def test_a_critical_alert_goes_only_where_its_routes_say_as_in_alertmanager(store: AlertStore) -> None:
    """The root receiver takes what no child route matched: with `continue` on the pager's route and
    nothing after it, a critical alert pages and does not chat."""
    sidekiq, clock = Sidekiq(retries=150), Clock()
    receivers = Receivers(config(TEAM))
    team_watcher(store, sidekiq, receivers, clock).poll_all()
    assert (len(receivers.chat.sent), len(receivers.pager.sent)) == (0, 1)


def test_a_failing_pager_is_retried_next_poll_without_re_posting_chat(store: AlertStore) -> None:
    sidekiq, clock = Sidekiq(retries=150), Clock()
    receivers = Receivers(config(BOTH))
    receivers.pager.fail_with = DeliveryError("PagerDuty (events.pagerduty.com)", "HTTP 503", permanent=False)
    watcher = team_watcher(store, sidekiq, receivers, clock)
    [first] = watcher.poll_all()
    assert len(receivers.chat.sent) == 1
    assert first.announced.transient is not None  # said, so Lambda's retry comes at once
    receivers.pager.fail_with = None
    clock.advance(MINUTE)
    [second] = watcher.poll_all()
    assert len(receivers.chat.sent) == 1  # chat was told already
    assert len(receivers.pager.sent) == 1
    assert second.announced.notices == (("firing", "retries > 50/100"),)
