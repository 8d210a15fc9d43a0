"""Alerts that say why: which jobs fail and how, from the newest entries of the retry or dead set."""

from __future__ import annotations

import json

from sidekiq_watch.alerts.history import History
from sidekiq_watch.alerts.lifecycle import AlertRecord, decide
from sidekiq_watch.alerts.messages import TargetView, render_notices
from sidekiq_watch.alerts.rules import evaluate, parse_rule
from sidekiq_watch.channels.slack import slack_payload
from sidekiq_watch.stats.failures import summarize

VIEW = TargetView("shop", "https://shop.example.com/sidekiq", 1_000.0)


def job(cls: str, error: str, message: str, **extra: object) -> str:
    return json.dumps(
        {
            "class": cls,
            "args": ["alice@example.com", 42],
            "error_class": error,
            "error_message": message,
            **extra,
        }
    )


def test_the_newest_entries_are_grouped_by_job_and_error_class() -> None:
    entries = (
        [job("FailingJob", "RuntimeError", "acceptance failure")] * 5
        + [job("Mailer", "Net::ReadTimeout", "execution expired")] * 2
        + [
            b"not json",
            job(
                "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper",
                "KeyError",
                "key not found: :id",
                wrapped="ImportJob",
            ),
        ]
    )
    summary = summarize(entries)
    assert summary.sampled == 9
    assert [(g.job_class, g.error_class, g.count) for g in summary.groups] == [
        ("FailingJob", "RuntimeError", 5),
        ("Mailer", "Net::ReadTimeout", 2),
        ("ImportJob", "KeyError", 1),
    ]
    assert summary.groups[0].error_message == "acceptance failure"


def firing_retries() -> list[object]:
    [finding] = evaluate({"retries": 57.0}, [parse_rule("retries > 50", "r")])
    return [decide(AlertRecord("shop", finding.key), finding, 1_000.0, 3600)]


def test_a_firing_retries_alert_says_which_jobs_fail_and_never_their_arguments() -> None:
    why = {"retries": summarize([job("FailingJob", "RuntimeError", "<!channel> acceptance failure")] * 57)}
    payload = json.dumps(slack_payload(render_notices(VIEW, firing_retries(), History(), why)))
    assert "`FailingJob` \\u00d757 \\u2014 `RuntimeError`: &lt;!channel&gt; acceptance failure" in payload
    assert "alice@example.com" not in payload
    assert "<!channel>" not in payload


def test_without_detail_the_alert_is_as_before() -> None:
    payload = json.dumps(slack_payload(render_notices(VIEW, firing_retries(), History())))
    assert "Among the newest" not in payload


def test_a_latency_alert_names_the_oldest_job_waiting() -> None:
    [finding] = evaluate({"latency:imports": 900.0}, [parse_rule("latency:imports > 300", "r")])
    decision = decide(AlertRecord("shop", finding.key), finding, 1_000.0, 3600)
    payload = json.dumps(
        slack_payload(render_notices(VIEW, [decision], History(), {}, {"imports": "ImportJob<x>"}))
    )
    assert "Oldest job waiting: `ImportJob&lt;x&gt;`" in payload
