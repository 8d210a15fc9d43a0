import pytest

from sidekiq_watch.alerts.rules import Rule, default_rules, evaluate
from sidekiq_watch.stats.snapshot import Snapshot


def retries(n: int) -> Snapshot:
    return Snapshot(shape="handwritten", retries=n)


def test_retries_equal_to_threshold_do_not_alert() -> None:
    [finding] = evaluate(retries(50), default_rules(50))
    assert finding.status == "ok"


def test_retries_above_threshold_alert() -> None:
    [finding] = evaluate(retries(51), default_rules(50))
    assert (finding.status, finding.value) == ("firing", 51)


def test_missing_figure_makes_the_rule_unknown_not_ok() -> None:
    [finding] = evaluate(Snapshot(shape="sidekiq_web_queues", queues={"a": 1}), default_rules(50))
    assert (finding.status, finding.value) == ("unknown", None)


@pytest.mark.parametrize(
    ("comparator", "value", "expected"),
    [(">", 5, "ok"), (">=", 5, "firing"), ("<", 4, "firing"), ("<=", 6, "ok"), ("==", 5, "firing")],
)
def test_comparators(comparator: str, value: int, expected: str) -> None:
    rule = Rule("processes", comparator, 5)  # type: ignore[arg-type]
    [finding] = evaluate(Snapshot(shape="x", processes=value), [rule])
    assert finding.status == expected


def test_queue_rule_reads_the_queue_size() -> None:
    rule = Rule("queue:stalled", ">", 10)
    [finding] = evaluate(Snapshot(shape="x", queues={"stalled": 40}), [rule])
    assert (finding.status, finding.value) == ("firing", 40)
