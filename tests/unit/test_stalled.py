"""A dead Sidekiq seen from any source: work waits, nothing runs, nothing completes between polls."""

from __future__ import annotations

from sidekiq_watch.alerts.history import Point, rates
from sidekiq_watch.alerts.rules import evaluate, parse_rule

BEFORE = Point(0.0, {"processed": 100.0, "busy": 0.0, "enqueued": 3.0})


def test_work_waiting_with_nothing_running_or_done_is_stalled() -> None:
    assert rates({"processed": 100.0, "busy": 0.0, "enqueued": 5.0}, 300.0, BEFORE)["stalled"] == 1.0


def test_a_sidekiq_that_completed_jobs_is_not_stalled() -> None:
    assert rates({"processed": 101.0, "busy": 0.0, "enqueued": 5.0}, 300.0, BEFORE)["stalled"] == 0.0


def test_long_jobs_running_are_not_stalled() -> None:
    assert rates({"processed": 100.0, "busy": 5.0, "enqueued": 5.0}, 300.0, BEFORE)["stalled"] == 0.0


def test_an_idle_sidekiq_with_nothing_to_do_is_not_stalled() -> None:
    assert rates({"processed": 100.0, "busy": 0.0, "enqueued": 0.0}, 300.0, BEFORE)["stalled"] == 0.0


def test_a_source_without_counters_cannot_tell() -> None:
    assert "stalled" not in rates({"enqueued": 5.0}, 300.0, Point(0.0, {"enqueued": 3.0}))


def test_figures_that_need_a_previous_poll_are_not_unknown_on_the_first() -> None:
    rules = [parse_rule("stalled > 0", "r"), parse_rule("processed_per_minute < 1", "r")]
    assert evaluate({"processed": 1.0, "busy": 0.0, "enqueued": 2.0}, rules, first_poll=True) == []


def test_the_default_rules_watch_for_a_stalled_sidekiq() -> None:
    import json
    from importlib.resources import files

    rules = json.loads((files("sidekiq_watch") / "alerts" / "default_config.json").read_text())["rules"]
    assert "stalled > 0" in rules


def test_a_source_that_cannot_tell_says_nothing_of_stalled() -> None:
    assert evaluate({"enqueued": 5.0, "retries": 1.0}, [parse_rule("stalled > 0", "r")]) == []
