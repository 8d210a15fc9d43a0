"""Silences (issue 27): quiet an alert for a while, and still hear how it ends: the resolve is told
when the firing had been, and a silence that ends while the alert fires announces it once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from sidekiq_watch.alerts.config import WatchConfig
from sidekiq_watch.alerts.persistence import AlertStore
from sidekiq_watch.alerts.silences import Silence, new_silence, parse_matchers, parse_windows
from sidekiq_watch.errors import ConfigError
from sidekiq_watch.poll import Watcher
from tests.unit.test_watcher import HOUR, MINUTE, Clock, Sidekiq, Slack, target


def watcher(store: AlertStore, sidekiq: Sidekiq, slack: Slack, clock: Clock, **config: object) -> Watcher:
    watch = WatchConfig((target(),), repeat_interval=HOUR, source_failures_before_alert=2, **config)  # type: ignore[arg-type]
    return Watcher(watch, store, source_for=lambda t: sidekiq, channel_for=lambda t: slack, clock=clock)


def silence(store: AlertStore, clock: Clock, hours: float = 1, match: str = "rule=retries*") -> Silence:
    added = new_silence(parse_matchers([match]), f"{int(hours * 60)}m", "alice", "deploy 4711", clock.now)
    store.save_silence(added)
    return added


def test_a_silenced_firing_is_tracked_not_announced_and_its_resolve_not_told(store: AlertStore) -> None:
    sidekiq, slack, clock = Sidekiq(retries=60), Slack(), Clock()
    added = silence(store, clock, hours=4)
    [report] = watcher(store, sidekiq, slack, clock).poll_all()
    assert slack.sent == []
    assert report.as_dict()["silenced"] == [{"rule": "retries > 50", "by": added.id}]
    clock.advance(2 * HOUR - MINUTE)  # reminders are due, and silenced too
    watcher(store, sidekiq, slack, clock).poll_all()
    sidekiq.figures["retries"] = 0
    clock.advance(MINUTE // 2)
    watcher(store, sidekiq, slack, clock).poll_all()
    assert slack.sent == []  # nobody was told it fired: nothing to resolve


def test_a_resolve_is_told_while_silenced_when_the_firing_was_announced(store: AlertStore) -> None:
    sidekiq, slack, clock = Sidekiq(retries=60), Slack(), Clock()
    watcher(store, sidekiq, slack, clock).poll_all()  # announced
    clock.advance(MINUTE)
    silence(store, clock, hours=4)
    clock.advance(HOUR + MINUTE)
    watcher(store, sidekiq, slack, clock).poll_all()  # the reminder is silenced
    assert len(slack.sent) == 1
    sidekiq.figures["retries"] = 0
    clock.advance(MINUTE)
    watcher(store, sidekiq, slack, clock).poll_all()
    assert slack.texts[1] == (
        "✅ Sidekiq shop: RESOLVED: retries &gt; 50 "
        "(retries is 0, while silenced: the silence by alice (deploy 4711))"
    )


def test_a_silence_ending_while_the_alert_fires_announces_it_once(store: AlertStore) -> None:
    sidekiq, slack, clock = Sidekiq(retries=60), Slack(), Clock()
    silence(store, clock, hours=1)
    watch = watcher(store, sidekiq, slack, clock)
    watch.poll_all()
    clock.advance(HOUR + MINUTE)
    watch.poll_all()
    watch.poll_all()
    assert len(slack.sent) == 1
    assert slack.texts[0].startswith("🔔 Sidekiq shop: STILL FIRING: retries &gt; 50")
    assert "after the silence by alice (deploy 4711) ended" in slack.sent[0]["blocks"][1]["text"]["text"]


def test_two_polls_racing_as_the_silence_ends_announce_it_once(store: AlertStore) -> None:
    sidekiq, slack, clock = Sidekiq(retries=60), Slack(), Clock()
    silence(store, clock, hours=1)
    watcher(store, sidekiq, slack, clock).poll_all()
    clock.advance(HOUR + MINUTE)
    racers = [watcher(store, sidekiq, slack, clock) for _ in range(4)]
    threads = [threading.Thread(target=w.poll_all) for w in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slack.sent) == 1


def test_a_silence_matches_only_what_it_names(store: AlertStore) -> None:
    sidekiq, slack, clock = Sidekiq(retries=60, processes=0), Slack(), Clock()
    silence(store, clock, match="rule=retries*")
    watcher(store, sidekiq, slack, clock).poll_all()
    assert slack.texts == ["🚨 Sidekiq shop: FIRING: processes &lt; 1 (processes is 0)"]


SUNDAY_NIGHT = [
    {
        "name": "sunday-maintenance",
        "match": {"target": "shop"},
        "days": ["sun"],
        "from": "02:00",
        "to": "04:00",
        "timezone": "Europe/Berlin",
    }
]


def test_a_weekly_window_is_active_in_its_own_time_zone() -> None:
    [window] = parse_windows(SUNDAY_NIGHT)
    at = lambda text: datetime.fromisoformat(text).timestamp()  # noqa: E731
    assert window.active(at("2026-12-06T01:30:00+00:00"))  # 02:30 in Berlin (winter, UTC+1)
    assert not window.active(at("2026-12-06T03:30:00+00:00"))  # 04:30 in Berlin
    assert not window.active(at("2026-12-07T01:30:00+00:00"))  # a Monday
    [overnight] = parse_windows([{**SUNDAY_NIGHT[0], "from": "23:00", "to": "01:00", "timezone": "UTC"}])
    assert overnight.active(
        datetime(2026, 12, 7, 0, 30, tzinfo=UTC).timestamp()
    )  # Monday 00:30: Sunday's night


def test_a_window_ending_while_the_alert_fires_announces_it_once(store: AlertStore) -> None:
    [window] = parse_windows([{**SUNDAY_NIGHT[0], "timezone": "UTC", "days": ["wed"]}])
    sidekiq, slack, clock = Sidekiq(retries=60), Slack(), Clock()
    clock.now = datetime(2026, 12, 2, 2, 30, tzinfo=UTC).timestamp()  # a Wednesday, 02:30 UTC
    watcher(store, sidekiq, slack, clock, silence_windows=(window,)).poll_all()
    assert slack.sent == []
    clock.now = datetime(2026, 12, 2, 4, 5, tzinfo=UTC).timestamp()
    watcher(store, sidekiq, slack, clock, silence_windows=(window,)).poll_all()
    assert "after the mute window sunday-maintenance ended" in slack.sent[0]["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            [{**SUNDAY_NIGHT[0], "timezone": "Mars/Olympus"}],
            r"silence_windows\[0\].timezone: unknown time zone 'Mars/Olympus'",
        ),
        ([{**SUNDAY_NIGHT[0], "from": "2am"}], r"silence_windows\[0\].from: expected HH:MM"),
        ([{**SUNDAY_NIGHT[0], "days": ["someday"]}], r"silence_windows\[0\].days: expected a list of days"),
        ([{**SUNDAY_NIGHT[0], "match": {}}], r"silence_windows\[0\].match: give at least one"),
    ],
)
def test_a_bad_window_is_refused_naming_it(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_windows(spec)


@pytest.mark.parametrize(
    ("matchers", "duration", "message"),
    [
        ([], "1h", "--match: give at least one matcher"),
        (
            ["colour=red"],
            "1h",
            r"--match: expected LABEL=GLOB with LABEL one of target, rule, severity, got 'colour=red'",
        ),
        (["target=shop"], "9999h", r"--for: at most 7d"),
    ],
)
def test_a_bad_silence_is_refused_naming_the_flag(matchers: list[str], duration: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        new_silence(parse_matchers(matchers), duration, "alice", "", 0.0)
