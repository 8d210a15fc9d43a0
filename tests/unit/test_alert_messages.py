"""Alert messages that stay true at scale and in their links: nothing announced that was not shown,
queue names quoted in URLs, a glob never linked, an outage timed from its first failed poll."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidekiq_watch.alerts.history import History
from sidekiq_watch.alerts.lifecycle import AlertRecord, decide, decide_source
from sidekiq_watch.alerts.messages import TargetView, render_notices, web_link
from sidekiq_watch.alerts.rules import evaluate, parse_rule
from sidekiq_watch.slack import escape_mrkdwn

WEB = "https://app.example.com/sidekiq"
VIEW = TargetView("shop", WEB, 1_000.0)
RULES = (parse_rule("queue:bulk* > 0", "r0"), parse_rule("latency:bulk* > 10", "r1"))


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
