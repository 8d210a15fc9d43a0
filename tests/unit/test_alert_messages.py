"""Alert messages that stay true at scale and in their links: nothing announced that was not shown,
queue names quoted in URLs, a glob never linked, an outage timed from its first failed poll."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidekiq_watch.alerts import messages
from sidekiq_watch.alerts.history import History
from sidekiq_watch.alerts.lifecycle import AlertRecord, decide, decide_source
from sidekiq_watch.alerts.messages import TargetView, web_link
from sidekiq_watch.alerts.rules import evaluate, parse_rule
from sidekiq_watch.channels.slack import Payload, escape_mrkdwn, slack_payload

WEB = "https://app.example.com/sidekiq"
VIEW = TargetView("shop", WEB, 1_000.0)
RULES = (parse_rule("queue:bulk* > 0", "r0"), parse_rule("latency:bulk* > 10", "r1"))


def render_notices(*args: Any, **kwargs: Any) -> Payload:
    """What Slack is sent for the alert message: the shape these tests read."""
    return slack_payload(messages.render_notices(*args, **kwargs))


def firing_decisions(queues: int) -> list[Any]:
    figures: dict[str, float] = {}
    for index in range(queues):
        figures[f"queue:bulk{index:03}"] = 5 + index
        figures[f"latency:bulk{index:03}"] = 20 + index
    return [decide(AlertRecord("shop", f.key), f, 1_000.0, 3600) for f in evaluate(figures, RULES)]


def texts(payload: dict[str, Any]) -> list[str]:
    return [
        block["text"]["text"] for block in payload["blocks"] if block["type"] == "section" and "text" in block
    ]


@pytest.mark.parametrize("queues", [60, 250])
def test_every_firing_finding_is_in_the_message_in_detail_or_counted(queues: int) -> None:
    decisions = firing_decisions(queues)
    payload = render_notices(VIEW, decisions, History())
    assert len(payload["blocks"]) <= 50
    assert all(len(text) <= 3000 for text in texts(payload))
    detailed = [
        d for d in decisions if any(f"[{escape_mrkdwn(d.finding.subject)}]" in t for t in texts(payload)[:-1])
    ]
    summary = texts(payload)[-1]
    hidden = len(decisions) - len(detailed)
    assert hidden > 0
    assert f"and {hidden} more" in summary
    per_rule = {key: sum(1 for d in decisions if d.finding.rule.key == key) for key in {r.key for r in RULES}}
    shown = {key: sum(1 for d in detailed if d.finding.rule.key == key) for key in per_rule}
    for key, total in per_rule.items():
        assert shown[key] > 0, f"no {key} finding shown in detail"
        assert f"`{escape_mrkdwn(key)}` \u00d7{total - shown[key]}" in summary


def test_the_worst_are_shown_in_detail_and_the_summary_names_the_worst_of_the_rest() -> None:
    shown = texts(render_notices(VIEW, firing_decisions(60), History()))
    assert any("[latency:bulk059]" in text for text in shown[:-1])
    assert "bulk039 59" in shown[-1]


def test_a_few_findings_need_no_summary() -> None:
    payload = render_notices(VIEW, firing_decisions(3), History())
    assert len(texts(payload)) == 6
    assert "more" not in json.dumps(payload)


@pytest.mark.parametrize(
    ("subject", "url"),
    [("queue:a b&c", f"{WEB}/queues/a%20b%26c"), ("latency:x/../y?z#", f"{WEB}/queues/x%2F..%2Fy%3Fz%23")],
)
def test_queue_links_are_quoted(subject: str, url: str) -> None:
    link = web_link(WEB, subject)
    assert link is not None
    assert link[0] == url


@pytest.mark.parametrize("rule", ["queue:stall* > 0", "latency:bulk[0-9] > 5"])
def test_a_glob_rule_the_source_cannot_evaluate_links_to_all_queues(rule: str) -> None:
    [finding] = evaluate({"enqueued": 1}, [parse_rule(rule, "r")])  # a source without per-queue figures
    assert finding.status == "unknown"
    decision = decide(AlertRecord("shop", finding.key), finding, 1_000.0, 3600)
    [block] = [b for b in render_notices(VIEW, [decision], History())["blocks"] if "accessory" in b]
    assert block["accessory"]["url"] == f"{WEB}/queues"


def test_an_outage_is_timed_from_its_first_failed_poll() -> None:
    record = AlertRecord("shop", "source readable")
    for at in (1_000.0, 1_300.0, 1_600.0):  # three failed polls, five minutes apart: fires on the second
        decision = decide_source(record, "timed out", at, 2, 3600)
        record = decision.record
    resolved = decide_source(record, None, 1_900.0, 2, 3600)
    assert resolved.notice == "resolved"
    text = json.dumps(render_notices(TargetView("shop", WEB, 1_900.0), [resolved], History()))
    assert "could not for 15m" in text


T0 = 1_000.0


def _one_firing(figures: dict[str, float], rule: str) -> list[Any]:
    return [
        decide(AlertRecord("shop", f.key), f, T0, 3600)
        for f in evaluate(figures, [parse_rule(rule, "r")])
        if f.status == "firing"
    ]


def test_a_queue_name_in_a_button_label_is_inert() -> None:
    """Issue 23 (12): a queue named `a b|<!channel>` reached a button's plain_text label raw."""
    view = TargetView("shop", "https://shop.example.com/sidekiq", T0)
    payload = render_notices(view, _one_firing({"queue:a b|<!channel>": 9.0}, "queue:* > 3"), History())
    labels = [block["accessory"]["text"]["text"] for block in payload["blocks"] if "accessory" in block]
    assert labels
    assert all("<" not in label and ">" not in label for label in labels)


def test_backticks_in_an_error_class_cannot_close_its_code_span() -> None:
    from sidekiq_watch.stats.failures import FailureGroup, FailureSummary

    view = TargetView("shop", None, T0)
    why = {"retries": FailureSummary((FailureGroup("Job`*bold*`", "Err` _x_ `", 3, "m"),), 10)}
    payload = render_notices(view, _one_firing({"retries": 99.0}, "retries > 50"), History(), why)
    bullet = next(line for text in texts(payload) for line in text.splitlines() if line.startswith("•"))
    # Two spans, each closed where it should be: the classes' own backticks are look-alikes.
    assert bullet == "• `Job\u02cb*bold*\u02cb` \u00d73 \u2014 `Err\u02cb _x_ \u02cb`: m"


def test_a_lone_surrogate_in_a_queue_name_never_reaches_the_log_record() -> None:
    from sidekiq_watch.stats.shapes import parse_stats

    snapshot = parse_stats(json.loads('{"enqueued": 1, "queues": {"bad\\ud800name": 1}}'))
    json.dumps(snapshot.figures(), ensure_ascii=False).encode("utf-8")  # what the logger writes
    assert "queue:bad\ufffdname" in snapshot.figures()


@pytest.mark.parametrize(
    ("rule", "figures", "says"),
    [
        ("redis_evicts > 0", {"redis_evicts": 1.0}, "set maxmemory-policy noeviction"),
        ("scheduled_overdue_seconds > 300", {"scheduled_overdue_seconds": 900.0}, "start a Sidekiq process"),
        ("live_processes < 1", {"live_processes": 0.0}, "restart the workers"),
    ],
)
def test_a_silent_job_loss_alert_says_what_to_do_in_one_line(
    rule: str, figures: dict[str, float], says: str
) -> None:
    view = TargetView("shop", None, T0)
    payload = render_notices(view, _one_firing(figures, rule), History())
    [line] = [line for text in texts(payload) for line in text.splitlines() if says in line]
    assert line.startswith("\u27a1")
