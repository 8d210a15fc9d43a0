from dataclasses import replace

import pytest

from sidekiq_watch.alerts.rules import Rule, evaluate, parse_rule
from sidekiq_watch.errors import ConfigError

RETRIES = Rule("retries", ">", critical=50)


def test_retries_equal_to_threshold_do_not_alert() -> None:
    [finding] = evaluate({"retries": 50}, [RETRIES])
    assert finding.status == "ok"


def test_retries_above_threshold_alert() -> None:
    [finding] = evaluate({"retries": 51}, [RETRIES])
    assert (finding.status, finding.value, finding.severity) == ("firing", 51, "critical")


def test_missing_figure_makes_the_rule_unknown_not_ok() -> None:
    [finding] = evaluate({"queue:a": 1}, [RETRIES])
    assert (finding.status, finding.value) == ("unknown", None)


@pytest.mark.parametrize(
    ("comparator", "value", "expected"),
    [(">", 5, "ok"), (">=", 5, "firing"), ("<", 4, "firing"), ("<=", 6, "ok"), ("==", 5, "firing")],
)
def test_comparators(comparator: str, value: int, expected: str) -> None:
    rule = Rule("processes", comparator, critical=5)  # type: ignore[arg-type]
    [finding] = evaluate({"processes": value}, [rule])
    assert finding.status == expected


def test_no_live_process_fires() -> None:
    [finding] = evaluate({"processes": 0}, [parse_rule("processes < 1", "rules[0]")])
    assert finding.status == "firing"


def test_warning_then_critical_levels() -> None:
    rule = parse_rule({"figure": "default_latency", "warning": 30, "critical": 300}, "rules[0]")
    severities = [f.severity for v in (10, 31, 301) for f in evaluate({"default_latency": v}, [rule])]
    assert severities == [None, "warning", "critical"]


def test_queue_glob_gives_one_finding_per_matching_queue() -> None:
    rule = parse_rule("queue:mailers* > 10", "rules[0]")
    figures = {"queue:mailers": 40, "queue:mailers_low": 5, "queue:default": 99}
    found = {f.subject: f.status for f in evaluate(figures, [rule])}
    assert found == {"queue:mailers": "firing", "queue:mailers_low": "ok"}
    assert {f.key for f in evaluate(figures, [rule])} == {
        "queue:mailers* > 10 [queue:mailers]",
        "queue:mailers* > 10 [queue:mailers_low]",
    }


def test_queue_glob_without_any_queue_figures_is_unknown() -> None:
    [finding] = evaluate({"retries": 1}, [parse_rule("queue:* > 10", "rules[0]")])
    assert finding.status == "unknown"


def test_named_queue_rule_reads_that_queue() -> None:
    [finding] = evaluate({"queue:stalled": 40}, [parse_rule("queue:stalled > 10", "r")])
    assert (finding.status, finding.value) == ("firing", 40)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("retries >> 5", r"targets\[0\].rules\[1\] \('retries >> 5'\): expected 'FIGURE OP NUMBER'"),
        ({"figure": "retries", "comparator": "!=", "threshold": 1}, "comparator '!=' is not one of"),
        ({"figure": "retires", "threshold": 1}, "figure: unknown figure 'retires'"),
        ({"figure": "retries"}, "a threshold .* is required"),
        ({"figure": "retries", "threshold": "lots"}, "threshold must be a number, got 'lots'"),
        ({"figure": "retries", "threshold": 1, "colour": "red"}, r"unknown field\(s\) colour"),
        (
            {"figure": "retries", "warning": 100, "critical": 50},
            "warning 100 must be reached before critical 50",
        ),
    ],
)
def test_bad_rules_name_the_rule_and_the_field(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_rule(spec, "targets[0].rules[1]")
    assert str(caught.value).startswith("targets[0].rules[1]")


# Issue 25: bundled rules a source cannot evaluate are left out for it; a user's rule still says so.
BUNDLED = tuple(
    replace(parse_rule(spec, "bundled"), bundled=True)
    for spec in ("processes < 1", "live_processes < 1", "redis_evicts > 0", "scheduled_overdue_seconds > 300")
)


def test_a_bundled_rule_without_its_figure_is_left_out_not_unknown() -> None:
    """A hand-written endpoint gives none of these: nothing is announced about them."""
    assert evaluate({"retries": 3.0}, BUNDLED) == []


def test_a_rule_of_ones_own_without_its_figure_is_still_unknown() -> None:
    [finding] = evaluate({"retries": 3.0}, [parse_rule("live_processes < 1", "r")])
    assert finding.status == "unknown"


def test_live_processes_replaces_the_bundled_processes_rule_where_heartbeats_are_read() -> None:
    redis_source = {
        "processes": 1.0,
        "live_processes": 0.0,
        "redis_evicts": 0.0,
        "scheduled_overdue_seconds": 0.0,
    }
    findings = evaluate(redis_source, BUNDLED)
    assert [f.key for f in findings if f.status == "firing"] == ["live_processes < 1"]
    assert "processes < 1" not in [f.key for f in findings]
    web_stats = {"processes": 0.0}  # Sidekiq Web: no heartbeats, the bundled processes rule stays
    assert [f.key for f in evaluate(web_stats, BUNDLED)] == ["processes < 1"]


def test_eviction_and_a_stopped_scheduler_fire_from_the_bundled_rules() -> None:
    figures = {"live_processes": 1.0, "redis_evicts": 1.0, "scheduled_overdue_seconds": 900.0}
    firing = [f for f in evaluate(figures, BUNDLED) if f.status == "firing"]
    assert [(f.key, f.severity) for f in firing] == [
        ("redis_evicts > 0", "critical"),
        ("scheduled_overdue_seconds > 300", "critical"),
    ]
