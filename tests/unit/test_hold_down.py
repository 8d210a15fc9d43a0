"""Hold-down as Prometheus does it (issue 26): ``for`` holds a breach before its firing is announced,
``keep_firing_for`` holds a clearance before its resolve is; the pending start lives in the alert
state, so it survives cold starts, and a poll that cannot read the source does not reset it."""

from __future__ import annotations

import pytest

from sidekiq_watch.alerts.config import WatchConfig
from sidekiq_watch.alerts.lifecycle import AlertRecord, decide
from sidekiq_watch.alerts.persistence import AlertStore
from sidekiq_watch.alerts.rules import Finding, parse_rule
from sidekiq_watch.errors import ConfigError, SourceError
from sidekiq_watch.poll import Watcher
from tests.unit.test_watcher import MINUTE, Clock, Sidekiq, Slack, target

HELD = parse_rule({"figure": "default_latency", "critical": 300, "for": "10m", "keep_firing_for": "10m"}, "r")


def breach(value: float = 900.0) -> Finding:
    return Finding(
        HELD, "default_latency", "firing" if value > 300 else "ok", value, "critical" if value > 300 else None
    )


def test_the_rule_reads_for_and_keep_firing_for_in_both_forms() -> None:
    assert (HELD.hold_for, HELD.keep_firing_for) == (600.0, 600.0)
    short = parse_rule("retries > 50 for 15m", "rules[0]")
    assert (short.figure, short.critical, short.hold_for, short.keep_firing_for) == (
        "retries",
        50.0,
        900.0,
        0.0,
    )
    assert short.key == "retries > 50"  # the hold is not part of the alert's identity


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("retries > 50 for soon", r"rules\[0\] \('retries > 50 for soon'\): for: expected a duration"),
        ({"figure": "retries", "critical": 5, "for": -60}, r"rules\[0\]: for: expected a duration"),
        (
            {"figure": "retries", "critical": 5, "keep_firing_for": "25h"},
            r"rules\[0\]: keep_firing_for: at most 1d",
        ),
    ],
)
def test_a_bad_hold_is_refused_naming_it(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rule(spec, "rules[0]")


def test_a_breach_is_pending_and_quiet_until_it_has_held() -> None:
    first = decide(AlertRecord("t", HELD.key), breach(), 1000.0, 3600)
    assert (first.notice, first.record.status, first.record.pending_since) == (None, "ok", 1000.0)
    assert first.changes_state  # the pending start is stored
    again = decide(first.record, breach(), 1000.0 + 599, 3600)
    assert again.notice is None
    assert not again.changes_state  # nothing new to write while it holds
    held = decide(first.record, breach(), 1000.0 + 600, 3600)
    assert held.notice == "firing"
    assert (held.record.since, held.record.pending_since) == (1000.0, None)  # it has been active since then


def test_a_breach_that_clears_while_pending_starts_over() -> None:
    pending = decide(AlertRecord("t", HELD.key), breach(), 0.0, 3600).record
    cleared = decide(pending, breach(10.0), 300.0, 3600)
    assert (cleared.notice, cleared.record.pending_since) == (None, None)
    again = decide(cleared.record, breach(), 600.0, 3600)
    assert (again.notice, again.record.pending_since) == (None, 600.0)


def test_a_clearance_is_held_before_the_resolve_and_a_flap_back_keeps_firing() -> None:
    firing = AlertRecord("t", HELD.key, "firing", "critical", since=0.0, last_notified=0.0)
    clearing = decide(firing, breach(10.0), 1000.0, 3600)
    assert (clearing.notice, clearing.record.status, clearing.record.clearing_since) == (
        None,
        "firing",
        1000.0,
    )
    back = decide(clearing.record, breach(), 1300.0, 3600)
    assert (back.notice, back.record.clearing_since) == (None, None)
    clearing = decide(back.record, breach(10.0), 1400.0, 3600)
    resolved = decide(clearing.record, breach(10.0), 2000.0, 3600)
    assert resolved.notice == "resolved"
    assert resolved.record.clearing_since is None


def held_watcher(store: AlertStore, sidekiq: Sidekiq, slack: Slack, clock: Clock) -> Watcher:
    rules = ({"figure": "retries", "critical": 50, "for": "10m", "keep_firing_for": "10m"},)
    config = WatchConfig((target(*rules),), repeat_interval=3600, source_failures_before_alert=99)
    return Watcher(config, store, source_for=lambda t: sidekiq, channel_for=lambda t: slack, clock=clock)


def test_the_watcher_holds_a_breach_across_polls_and_a_source_outage(store: AlertStore) -> None:
    sidekiq, slack, clock = Sidekiq(retries=60), Slack(), Clock()
    held_watcher(store, sidekiq, slack, clock).poll_all()
    clock.advance(5 * MINUTE)
    # A new container (state only in the store), and the source unreadable for one poll.
    sidekiq.error = SourceError("timeout", "GET stats", "timed out")
    held_watcher(store, sidekiq, slack, clock).poll_all()
    sidekiq.error = None
    clock.advance(4 * MINUTE)
    [pending] = held_watcher(store, sidekiq, slack, clock).poll_all()
    assert slack.sent == []
    assert pending.as_dict()["findings"][0]["status"] == "pending"
    assert pending.as_dict()["findings"][0]["held"] == "9m of 10m"
    clock.advance(MINUTE)
    [fired] = held_watcher(store, sidekiq, slack, clock).poll_all()
    assert fired.announced.notices == (("firing", "retries > 50"),)
    assert "firing for" not in slack.texts[0]


def test_the_watcher_holds_the_resolve_until_clear_for_keep_firing_for(store: AlertStore) -> None:
    sidekiq, slack, clock = Sidekiq(retries=60), Slack(), Clock()
    watcher = held_watcher(store, sidekiq, slack, clock)
    watcher.poll_all()
    clock.advance(10 * MINUTE)
    watcher.poll_all()
    assert len(slack.sent) == 1
    sidekiq.figures["retries"] = 0
    for _ in range(2):
        clock.advance(5 * MINUTE)
        [report] = watcher.poll_all()
        assert len(slack.sent) == 1
    assert report.as_dict()["findings"][0]["status"] == "clearing"
    clock.advance(5 * MINUTE)
    watcher.poll_all()
    assert slack.texts[1].startswith("✅ Sidekiq shop: RESOLVED")
