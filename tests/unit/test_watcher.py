"""The alert lifecycle end to end over a real store (local file, and DynamoDB in moto)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from sidekiq_watch.alerts.config import Target, WatchConfig
from sidekiq_watch.alerts.persistence import AlertStore
from sidekiq_watch.alerts.persistence.dynamodb import DynamoDBStore
from sidekiq_watch.alerts.receivers import OneReceiver
from sidekiq_watch.alerts.rules import parse_rule
from sidekiq_watch.channels.slack import Payload
from sidekiq_watch.errors import DeliveryError, SourceError
from sidekiq_watch.poll import Watcher
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.snapshot import Snapshot
from tests.support.aws import create_state_table

T0 = 1_795_000_000.0
MINUTE, HOUR = 60.0, 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sidekiq:
    """A source whose figures the test sets; ``error`` makes it unreadable."""

    location = "test source"

    def __init__(self, **figures: Any) -> None:
        self.figures: dict[str, Any] = {"processes": 1, **figures}
        self.error: SourceError | None = None

    def read(self) -> Snapshot:
        if self.error:
            raise self.error
        return Snapshot("sidekiq_web_stats", **self.figures)


class Slack:
    description = "posted to Slack"

    def __init__(self) -> None:
        self.sent: list[Payload] = []
        self.fail_with: BaseException | None = None
        self.during_post: Callable[[], None] | None = None

    name = "slack"
    kind = "slack"

    def deliver(self, message: Any, resources: Any) -> str:
        from sidekiq_watch.channels.slack import slack_payload

        self.post(slack_payload(message))
        return "posted"

    def post(self, payload: Payload) -> None:
        if self.during_post:
            hook, self.during_post = self.during_post, None
            hook()
        if self.fail_with:
            raise self.fail_with
        self.sent.append(payload)

    @property
    def texts(self) -> list[str]:
        return [p["text"] for p in self.sent]


RULES = ("retries > 50", "processes < 1")


class Crash(BaseException):
    """The process dying mid-poll (Lambda killed, out of memory): nothing in the code catches it."""


def target(
    *rules: Any, name: str = "shop", web_url: str | None = "https://shop.example.com/sidekiq"
) -> Target:
    parsed = tuple(parse_rule(r, f"rules[{i}]") for i, r in enumerate(rules or RULES))
    return Target(name, "https://shop.example.com/sidekiq/stats", StatsAuth(), parsed, web_url=web_url)


def watcher(store: AlertStore, sidekiq: Sidekiq, slack: Slack, clock: Clock, *targets: Target) -> Watcher:
    config = WatchConfig(targets or (target(),), repeat_interval=HOUR, source_failures_before_alert=2)
    return Watcher(
        config,
        store,
        source_for=lambda t: sidekiq,
        channel_for=lambda t: slack,
        clock=clock,
        lease_seconds=120,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_rule_starting_to_fire_posts_one_message(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=60), Slack()
    [report] = watcher(store, sidekiq, slack, clock).poll_all()
    assert slack.texts == ["🚨 Sidekiq shop: FIRING: retries &gt; 50 (retries is 60)"]
    assert report.announced.notices == (("firing", "retries > 50"),)
    section = slack.sent[0]["blocks"][1]
    assert "*retries* is *60* (threshold &gt; 50)" in section["text"]["text"]
    assert section["accessory"]["url"] == "https://shop.example.com/sidekiq/retries"


def test_still_firing_posts_nothing_until_the_repeat_interval(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=60), Slack()
    w = watcher(store, sidekiq, slack, clock)
    w.poll_all()
    for _ in range(11):
        clock.advance(5 * MINUTE)
        sidekiq.figures["retries"] += 1
        w.poll_all()
    assert len(slack.sent) == 1
    clock.advance(5 * MINUTE)
    w.poll_all()
    assert len(slack.sent) == 2
    assert slack.sent[1]["blocks"][0]["text"]["text"] == "🔁 Sidekiq still alerting: shop"
    assert "firing for 1h" in slack.sent[1]["blocks"][1]["text"]["text"]


def test_clearing_posts_resolved_with_how_long_it_fired(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=60), Slack()
    w = watcher(store, sidekiq, slack, clock)
    w.poll_all()
    clock.advance(25 * MINUTE)
    sidekiq.figures["retries"] = 0
    w.poll_all()
    assert slack.texts[1] == "✅ Sidekiq shop: RESOLVED: retries &gt; 50 (retries is 0)"
    assert "fired for 25m" in slack.sent[1]["blocks"][1]["text"]["text"]
    clock.advance(5 * MINUTE)
    w.poll_all()
    assert len(slack.sent) == 2


def test_several_rules_firing_at_once_are_one_message(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=60, processes=0), Slack()
    watcher(store, sidekiq, slack, clock).poll_all()
    [message] = slack.sent
    assert message["text"] == (
        "🚨 Sidekiq shop: FIRING: retries &gt; 50 (retries is 60); FIRING: processes &lt; 1 (processes is 0)"
    )
    assert message["blocks"][2]["accessory"]["url"] == "https://shop.example.com/sidekiq/busy"


def test_severity_change_posts_at_once(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(dead=20), Slack()
    w = watcher(store, sidekiq, slack, clock, target({"figure": "dead", "warning": 10, "critical": 100}))
    w.poll_all()
    clock.advance(MINUTE)
    sidekiq.figures["dead"] = 150
    w.poll_all()
    assert slack.texts == [
        "🚨 Sidekiq shop: FIRING: dead &gt; 10/100 (dead is 20)",
        "🚨 Sidekiq shop: SEVERITY CHANGED: dead &gt; 10/100 (dead is 150)",
    ]
    assert "(critical)" in slack.sent[1]["blocks"][1]["text"]["text"]


def test_a_figure_the_source_lacks_is_reported_once(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=1), Slack()
    del sidekiq.figures["processes"]
    w = watcher(store, sidekiq, slack, clock)
    w.poll_all()
    clock.advance(2 * HOUR)
    w.poll_all()
    assert slack.texts == ["❔ Sidekiq shop: CANNOT EVALUATE: processes &lt; 1 (no processes in the source)"]


def test_source_down_alerts_after_two_failed_polls_and_resolves(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=1), Slack()
    w = watcher(store, sidekiq, slack, clock)
    w.poll_all()
    sidekiq.error = SourceError("timeout", "GET https://shop.example.com/sidekiq/stats", "timed out")
    clock.advance(5 * MINUTE)
    w.poll_all()
    assert slack.sent == []
    clock.advance(5 * MINUTE)
    w.poll_all()
    assert slack.texts == ["🚨 Sidekiq shop: FIRING: cannot read Sidekiq stats"]
    assert "timed out" in slack.sent[0]["blocks"][1]["text"]["text"]
    assert "2 polls in a row" in slack.sent[0]["blocks"][1]["text"]["text"]
    sidekiq.error = None
    clock.advance(5 * MINUTE)
    w.poll_all()
    assert slack.texts[1] == "✅ Sidekiq shop: RESOLVED: stats readable"
    assert "could not for 10m" in slack.sent[1]["blocks"][1]["text"]["text"]  # from the first failed poll


def test_messages_show_change_and_sparkline_from_history(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=10), Slack()
    w = watcher(store, sidekiq, slack, clock)
    for value in (10, 20, 40, 70):
        sidekiq.figures["retries"] = value
        w.poll_all()
        clock.advance(5 * MINUTE)
    text = slack.sent[0]["blocks"][1]["text"]["text"]
    assert "+30 since last poll" in text
    assert "▁▂▅█" in text


def test_failed_rate_per_minute_between_polls(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(failed=1000), Slack()
    w = watcher(store, sidekiq, slack, clock, target("failed_per_minute > 10"))
    w.poll_all()
    assert slack.texts == []  # no rate before a second poll: not yet known, not "cannot evaluate"
    clock.advance(5 * MINUTE)
    sidekiq.figures["failed"] = 1100
    [report] = w.poll_all()
    assert [(f.status, f.value) for f in report.findings] == [("firing", 20.0)]


# Exactly once


def test_a_retried_invocation_posts_nothing_new(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=60), Slack()
    watcher(store, sidekiq, slack, clock).poll_all()
    watcher(store, sidekiq, slack, clock).poll_all()
    assert len(slack.sent) == 1


def test_a_concurrent_invocation_during_the_post_posts_nothing(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack, other_slack = Sidekiq(retries=60), Slack(), Slack()
    reports = []
    slack.during_post = lambda: reports.append(watcher(store, sidekiq, other_slack, clock).poll_all())
    watcher(store, sidekiq, slack, clock).poll_all()
    assert len(slack.sent) == 1
    assert other_slack.sent == []
    assert reports[0][0].announced.others_announcing == ("retries > 50",)


def test_two_invocations_racing_post_exactly_once(store: AlertStore, clock: Clock) -> None:
    sidekiq = Sidekiq(retries=60, processes=0)
    slacks = [Slack(), Slack()]
    barrier = threading.Barrier(2)
    original_load = store.load

    def load_in_step(name: str) -> Any:
        state = original_load(name)
        barrier.wait(timeout=5)  # both have read the same state before either writes
        return state

    store.load = load_in_step  # type: ignore[method-assign]
    threads = [threading.Thread(target=watcher(store, sidekiq, s, clock).poll_all) for s in slacks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    announced = sorted(
        line for s in slacks for text in s.texts for line in re.findall(r"FIRING: [^(]*\([^)]*\)", text)
    )
    assert announced == [
        "FIRING: processes &lt; 1 (processes is 0)",
        "FIRING: retries &gt; 50 (retries is 60)",
    ]


def test_crash_before_posting_loses_nothing(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=60), Slack()
    slack.fail_with = Crash("Lambda crashed")
    with pytest.raises(Crash):
        watcher(store, sidekiq, slack, clock).poll_all()
    slack.fail_with = None
    watcher(store, sidekiq, slack, clock).poll_all()
    assert slack.sent == []  # the crashed invocation's claim is still within its lease
    clock.advance(121)
    watcher(store, sidekiq, slack, clock).poll_all()
    assert slack.texts == ["🚨 Sidekiq shop: FIRING: retries &gt; 50 (retries is 60)"]


def test_crash_after_posting_before_saving_resends_once_rather_than_losing(
    store: AlertStore, clock: Clock
) -> None:
    sidekiq, slack = Sidekiq(retries=60), Slack()
    original_save_all = store.save_all
    calls = []

    def crash_on_confirm(records: Any) -> None:
        calls.append(records)
        if len(calls) == 2:  # the claim, then the confirm
            raise Crash("Lambda crashed")
        original_save_all(records)

    store.save_all = crash_on_confirm  # type: ignore[method-assign]
    with pytest.raises(Crash):
        watcher(store, sidekiq, slack, clock).poll_all()
    assert len(slack.sent) == 1
    store.save_all = original_save_all  # type: ignore[method-assign]
    clock.advance(121)
    watcher(store, sidekiq, slack, clock).poll_all()
    clock.advance(5 * MINUTE)
    watcher(store, sidekiq, slack, clock).poll_all()
    assert len(slack.sent) == 2


def test_transient_slack_failure_is_retried_by_the_next_invocation_at_once(
    store: AlertStore, clock: Clock
) -> None:
    sidekiq, slack = Sidekiq(retries=60), Slack()
    slack.fail_with = DeliveryError("Slack", "HTTP 503", permanent=False, status=503)
    [report] = watcher(store, sidekiq, slack, clock).poll_all()
    assert report.announced.transient is not None
    slack.fail_with = None
    watcher(store, sidekiq, slack, clock).poll_all()
    watcher(store, sidekiq, slack, clock).poll_all()
    assert len(slack.sent) == 1


def test_permanent_slack_rejection_is_tried_again_next_poll(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=60), Slack()
    slack.fail_with = DeliveryError("Slack", "HTTP 404 no_service", permanent=True, status=404)
    [report] = watcher(store, sidekiq, slack, clock).poll_all()
    assert report.delivery == "rejected: Slack: HTTP 404 no_service"
    assert report.announced.transient is None
    slack.fail_with = None
    clock.advance(5 * MINUTE)
    watcher(store, sidekiq, slack, clock).poll_all()
    assert len(slack.sent) == 1


def test_progress_is_reported_as_targets_finish(store: AlertStore, clock: Clock) -> None:
    sidekiq, slack = Sidekiq(retries=1), Slack()
    targets = tuple(target(name=f"app{i}") for i in range(3))
    seen: list[tuple[int, int]] = []
    reports = watcher(store, sidekiq, slack, clock, *targets).poll_all(
        progress=lambda done, total: seen.append((done, total))
    )
    assert sorted(seen) == [(1, 3), (2, 3), (3, 3)]
    assert sorted(r.target for r in reports) == ["app0", "app1", "app2"]


def test_a_delivered_alert_is_not_sent_again_once_its_claim_has_lapsed(
    store: AlertStore, clock: Clock
) -> None:
    """Only the confirming write says 'announced': the claim's lease (120 s here) has run out by the
    next poll, so without that write the alert would be decided afresh and posted again."""
    sidekiq, slack = Sidekiq(retries=99), Slack()
    w = watcher(store, sidekiq, slack, clock)
    w.poll_all()
    clock.advance(5 * MINUTE)
    w.poll_all()
    assert len(slack.sent) == 1
    assert store.load("shop").records["retries > 50"].status == "firing"


def test_many_targets_on_a_cold_container_make_one_dynamodb_client(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3's default session cannot make clients concurrently (RuntimeError under 50 targets)."""
    import threading

    import boto3

    made: list[int] = []
    real_client = boto3.client

    def slow_client(*args: Any, **kwargs: Any) -> Any:
        made.append(threading.get_ident())
        time.sleep(0.05)  # widen the window every thread would race through
        return real_client(*args, **kwargs)

    monkeypatch.setattr(boto3, "client", slow_client)
    store = DynamoDBStore(create_state_table())
    made.clear()
    targets = [target(name=f"app-{i}") for i in range(20)]
    w = watcher(store, Sidekiq(retries=1), Slack(), Clock(), *targets)
    reports = w.poll_all()
    assert [r.failure for r in reports] == [None] * 20
    assert len(made) == 1


def test_a_confirming_write_that_loses_is_reported_not_ignored(store: AlertStore, clock: Clock) -> None:
    """The lease ran out while posting and another invocation took over: the report says so."""
    from sidekiq_watch.alerts.lifecycle import AlertRecord
    from sidekiq_watch.alerts.persistence.base import save_each
    from sidekiq_watch.alerts.persistence.exceptions import StateConflictError

    class LosesConfirms:
        description = store.description

        def __init__(self) -> None:
            self.saves = 0

        def load(self, target: str) -> Any:
            return store.load(target)

        def save(self, record: AlertRecord) -> None:
            if record.claim_id is None and record.status == "firing":  # the confirm
                raise StateConflictError(record.target, record.key)
            store.save(record)

        def save_all(self, records: Any) -> None:
            save_each(self, records)  # type: ignore[arg-type]

        def save_history(self, target: str, history: Any) -> None:
            store.save_history(target, history)

    sidekiq, slack = Sidekiq(retries=99), Slack()
    [report] = watcher(LosesConfirms(), sidekiq, slack, clock).poll_all()  # type: ignore[arg-type]
    assert len(slack.sent) == 1
    assert report.announced.confirm_lost == ("retries > 50",)
    assert report.as_dict()["confirm_lost"] == ["retries > 50"]


def test_an_unexpected_error_in_one_target_keeps_every_other_targets_report(
    store: AlertStore, clock: Clock
) -> None:
    """A library error that is not ours (e.g. redis.InvalidResponse) used to escape poll_all."""

    class Broken:
        def read(self) -> Any:
            raise RuntimeError("protocol garbage from a library")

    sidekiq, slack = Sidekiq(retries=1), Slack()
    targets = (target(name="good"), target(name="broken"))
    config = WatchConfig(targets, repeat_interval=HOUR, source_failures_before_alert=2)
    w = Watcher(
        config,
        store,
        source_for=lambda t: Broken() if t.name == "broken" else sidekiq,  # type: ignore[return-value]
        channel_for=lambda t: slack,
        clock=clock,
    )
    reports = {r.target: r for r in w.poll_all()}
    assert reports["good"].failure is None
    assert reports["broken"].failure is not None
    assert "RuntimeError" in str(reports["broken"].failure)


def test_each_poll_ends_in_one_outcome_value(store: AlertStore, clock: Clock) -> None:
    from sidekiq_watch.alerts.report import TargetOutcome

    sidekiq, slack = Sidekiq(retries=99), Slack()
    w = watcher(store, sidekiq, slack, clock)
    assert w.poll_all()[0].outcome is TargetOutcome.DELIVERED
    assert w.poll_all()[0].outcome is TargetOutcome.NOTHING_TO_SEND
    sidekiq.error = SourceError("timeout", "GET x", "timed out")
    [unreadable] = w.poll_all()
    assert unreadable.outcome is TargetOutcome.SOURCE_UNREADABLE
    assert unreadable.as_dict()["outcome"] == "source unreadable"


def test_a_targets_report_is_a_value_nothing_can_change_after_the_poll() -> None:
    """Outcomes are values: the handler, the CLI and the log all read the same, unchangeable report."""
    import dataclasses

    from sidekiq_watch.alerts.report import TargetOutcome, TargetReport

    report = TargetReport("shop", 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.failure = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.announced.transient = None  # type: ignore[misc]
    assert report.outcome is TargetOutcome.NOTHING_TO_SEND


def test_a_claim_is_released_when_anything_fails_before_the_post(store: AlertStore, clock: Clock) -> None:
    """A claimed transition is always announced or released: an error while the message is made
    (a hostile payload, a bug) must not leave the claim to expire while the next poll posts nothing."""
    sidekiq, slack = Sidekiq(retries=60), Slack()
    w = watcher(store, sidekiq, slack, clock)
    failing = {"once": True}

    def notifier(t: Target) -> Slack:
        if failing.pop("once", False):
            raise RecursionError("a payload nested too deep")
        return slack

    w.receivers = OneReceiver(notifier)
    [first] = w.poll_all()
    assert first.failure is not None
    clock.advance(MINUTE)  # well inside the 120 s lease
    [second] = w.poll_all()
    assert second.announced.notices == (("firing", "retries > 50"),)
    assert len(slack.sent) == 1


def test_a_lost_claim_on_the_source_alert_posts_nothing(store: AlertStore, clock: Clock) -> None:
    """Another invocation claimed 'cannot read Sidekiq stats' first: this one must not post it too.
    (The source alert's record key is not its finding's key; the lost claim was once missed.)"""
    from sidekiq_watch.alerts.lifecycle import SOURCE_KEY, AlertRecord
    from sidekiq_watch.alerts.persistence.base import save_each
    from sidekiq_watch.alerts.persistence.exceptions import StateConflictError

    class LosesTheSourceClaim:
        description = store.description

        def load(self, target: str) -> Any:
            return store.load(target)

        def save(self, record: AlertRecord) -> None:
            if record.key == SOURCE_KEY and record.claim_id is not None:
                raise StateConflictError(record.target, record.key)
            store.save(record)

        def save_all(self, records: Any) -> None:
            save_each(self, records)  # type: ignore[arg-type]

        def save_history(self, target: str, history: Any) -> None:
            store.save_history(target, history)

    sidekiq, slack = Sidekiq(retries=0), Slack()
    sidekiq.error = SourceError("timeout", "GET stats", "timed out")
    w = watcher(LosesTheSourceClaim(), sidekiq, slack, clock)  # type: ignore[arg-type]
    w.poll_all()
    clock.advance(MINUTE)
    [report] = w.poll_all()  # the second failure fires it; the claim is lost to another invocation
    assert slack.sent == []
    assert report.announced.others_announcing == ("source == 0",)
