"""The lifecycle's pure decisions, one transition per test."""

from sidekiq_watch.alerts.lifecycle import AlertRecord, decide, decide_source
from sidekiq_watch.alerts.rules import Finding, Rule

RULE = Rule("retries", ">", critical=200, warning=50)
HOUR = 3600.0


def finding(status: str, value: float | None = None, severity: str | None = None) -> Finding:
    return Finding(RULE, "retries", status, value, severity)  # type: ignore[arg-type]


def firing_record(since: float = 0.0, severity: str = "warning", last: float = 0.0) -> AlertRecord:
    return AlertRecord("t", RULE.key, "firing", severity, since=since, last_notified=last, version=3)  # type: ignore[arg-type]


def test_ok_to_firing_announces() -> None:
    d = decide(AlertRecord("t", RULE.key), finding("firing", 60, "warning"), 100.0, HOUR)
    assert d.notice == "firing"
    assert (d.record.status, d.record.since, d.record.severity) == ("firing", 100.0, "warning")


def test_still_firing_within_repeat_interval_is_quiet() -> None:
    d = decide(firing_record(), finding("firing", 61, "warning"), HOUR - 1, HOUR)
    assert d.notice is None
    assert not d.changes_state


def test_still_firing_after_repeat_interval_reminds() -> None:
    d = decide(firing_record(), finding("firing", 61, "warning"), HOUR, HOUR)
    assert d.notice == "reminder"
    assert d.record.last_notified == HOUR
    assert d.record.since == 0.0


def test_severity_change_announces_at_once() -> None:
    d = decide(firing_record(), finding("firing", 250, "critical"), 10.0, HOUR)
    assert d.notice == "severity"
    assert d.record.severity == "critical"


def test_firing_to_ok_resolves_keeping_when_it_started() -> None:
    d = decide(firing_record(since=5.0), finding("ok", 3), 500.0, HOUR)
    assert d.notice == "resolved"
    assert d.previous.since == 5.0
    assert d.record.status == "ok"


def test_ok_staying_ok_writes_nothing() -> None:
    previous = AlertRecord("t", RULE.key, version=2)
    d = decide(previous, finding("ok", 3), 500.0, HOUR)
    assert (d.notice, d.changes_state) == (None, False)


def test_unknown_is_reported_once() -> None:
    first = decide(AlertRecord("t", RULE.key), finding("unknown"), 1.0, HOUR)
    second = decide(first.record, finding("unknown"), 2.0 * HOUR, HOUR)
    assert (first.notice, second.notice) == ("unknown", None)


def test_unknown_back_to_ok_is_quiet_but_recorded() -> None:
    d = decide(AlertRecord("t", RULE.key, "unknown", version=1), finding("ok", 1), 1.0, HOUR)
    assert d.notice is None
    assert d.record.status == "ok"


def test_source_fails_once_without_alerting_then_alerts_on_the_second() -> None:
    first = decide_source(AlertRecord("t", "source readable"), "timed out", 1.0, 2, HOUR)
    second = decide_source(first.record, "timed out", 2.0, 2, HOUR)
    assert (first.notice, first.record.failures) == (None, 1)
    assert (second.notice, second.record.failures, second.record.reason) == ("firing", 2, "timed out")


def test_source_recovery_resolves() -> None:
    down = AlertRecord("t", "source readable", "firing", "critical", since=1.0, failures=3, version=4)
    d = decide_source(down, None, 9.0, 2, HOUR)
    assert d.notice == "resolved"
    assert d.record.failures == 0


def test_healthy_source_writes_nothing() -> None:
    healthy = AlertRecord("t", "source readable", version=1)
    d = decide_source(healthy, None, 9.0, 2, HOUR)
    assert (d.notice, d.changes_state) == (None, False)
