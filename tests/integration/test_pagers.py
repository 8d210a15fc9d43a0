"""PagerDuty and Opsgenie receivers against stand-ins on 127.0.0.1 that check the documented request
shapes and answer as the services do (issue 26): trigger and resolve under one key, 400/422 not
retried, 429 retried."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidekiq_watch.alerts.history import History
from sidekiq_watch.alerts.lifecycle import AlertRecord, decide
from sidekiq_watch.alerts.messages import TargetView, render_notices
from sidekiq_watch.alerts.rules import evaluate, parse_rule
from sidekiq_watch.channels import Resources, build_channel
from sidekiq_watch.channels.message import Message
from sidekiq_watch.errors import DeliveryError
from sidekiq_watch.http import RetryPolicy
from tests.conftest import EVENTS
from tests.support.pagers import opsgenie, pagerduty

pytestmark = pytest.mark.integration

ROUTING_KEY = "R0123456789abcdef0123456789abcde"  # 32 characters, as PagerDuty's are
VIEW = TargetView("shop", "https://shop.example.com/sidekiq", 1_700_000_000.0)
RULE = parse_rule(
    {"figure": "retries", "warning": 50, "critical": 100, "runbook": "https://wiki.example.com/rb"}, "r"
)
FAST = Resources(timeout=5, policy=RetryPolicy(attempts=3, backoff_seconds=0.01))


def alert_then_resolve() -> tuple[Message, Message]:
    [firing] = evaluate({"retries": 150.0}, [RULE])
    fired = decide(AlertRecord("shop", firing.key), firing, VIEW.checked_at, 3600)
    [clear] = evaluate({"retries": 0.0}, [RULE])
    resolved = decide(fired.record, clear, VIEW.checked_at + 600, 3600)
    return render_notices(VIEW, [fired], History()), render_notices(VIEW, [resolved], History())


def test_pagerduty_triggers_and_resolves_one_incident_with_one_dedup_key() -> None:
    trigger, resolve = alert_then_resolve()
    with pagerduty() as pd:
        channel = build_channel(
            "pagerduty", {"routing_key": ROUTING_KEY, "url": f"{pd.url}/v2/enqueue"}, "r.pd"
        )
        assert channel.deliver(trigger, FAST) == "1 event(s) accepted"
        channel.deliver(resolve, FAST)
    first, second = pd.accepted
    assert (first["event_action"], second["event_action"]) == ("trigger", "resolve")
    assert first["dedup_key"] == second["dedup_key"] == "sidekiq-watch/shop/retries > 50/100"
    assert first["payload"]["severity"] == "critical"
    assert first["payload"]["summary"] == "Sidekiq shop: FIRING: retries > 50/100 (retries is 150)"
    assert {link["text"] for link in first["links"]} == {"Retries", "Runbook"}
    assert "payload" not in second  # a resolve needs only the key


def test_pagerduty_400_is_permanent_and_429_is_retried() -> None:
    trigger, _ = alert_then_resolve()
    with pagerduty() as pd:
        wrong_key = build_channel(
            "pagerduty", {"routing_key": "short", "url": f"{pd.url}/v2/enqueue"}, "r.pd"
        )
        with pytest.raises(DeliveryError) as refused:
            wrong_key.deliver(trigger, FAST)
        assert refused.value.permanent
        assert len(pd.server.received) == 1  # not retried: a retry cannot fix an invalid event
        pd.throttle = 2
        channel = build_channel(
            "pagerduty", {"routing_key": ROUTING_KEY, "url": f"{pd.url}/v2/enqueue"}, "r.pd"
        )
        channel.deliver(trigger, FAST)
    assert len(pd.accepted) == 1


def test_opsgenie_creates_by_alias_and_closes_by_the_same_alias() -> None:
    trigger, resolve = alert_then_resolve()
    with opsgenie("og-s3cr3t") as og:
        channel = build_channel("opsgenie", {"api_key": "og-s3cr3t", "url": og.url}, "r.og")
        channel.deliver(trigger, FAST)
        channel.deliver(resolve, FAST)
    created, closed = og.accepted
    assert created["action"] == "create"
    assert (created["alias"], closed["alias"]) == ("sidekiq-watch/shop/retries > 50/100",) * 2
    assert created["priority"] == "P1"
    assert len(created["message"]) <= 130
    assert closed["action"] == "close"


def test_opsgenie_422_is_permanent_and_a_wrong_key_never_retried() -> None:
    trigger, _ = alert_then_resolve()
    with opsgenie("og-s3cr3t") as og:
        channel = build_channel("opsgenie", {"api_key": "wrong", "url": og.url}, "r.og")
        with pytest.raises(DeliveryError) as refused:
            channel.deliver(trigger, FAST)
        assert refused.value.permanent
        assert "og-s3cr3t" not in str(refused.value)
        assert "wrong" not in str(refused.value)
        assert len(og.server.received) == 1


def test_check_prints_the_routes_and_test_notify_pages_then_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sidekiq_watch.cli import EXIT_OK, main

    with pagerduty() as pd:
        document = {
            "receivers": [
                {"name": "chat", "print": {}},
                {"name": "pager", "pagerduty": {"routing_key": ROUTING_KEY, "url": f"{pd.url}/v2/enqueue"}},
            ],
            "route": {
                "receiver": "chat",
                "routes": [{"match": {"severity": "critical"}, "receiver": "pager"}],
            },
            "rules": [{"figure": "retries", "warning": 50, "critical": 100}],
        }
        (tmp_path / "watch.json").write_text(json.dumps(document))
        monkeypatch.setenv("SIDEKIQ_WATCH_CONFIG", str(tmp_path / "watch.json"))
        monkeypatch.setenv("SIDEKIQ_STATS_URL", str(EVENTS / "stats" / "handwritten.json"))
        monkeypatch.setenv("STATE_FILE", str(tmp_path / "state.json"))
        main(["check"])
        out = capsys.readouterr().out
        assert "severity=critical -> pager" in out
        assert "retries > 50/100 (warning) -> chat" in out
        assert "retries > 50/100 (critical) -> pager" in out
        assert main(["test-notify", "--channel", "receiver:pager"]) == EXIT_OK
    assert [event["event_action"] for event in pd.accepted] == ["trigger", "resolve"]
    assert pd.accepted[0]["dedup_key"] == pd.accepted[1]["dedup_key"]


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (
            "pagerduty",
            {"routing_key": ROUTING_KEY, "url": "ftp://events.pagerduty.com/v2/enqueue"},
            "r.url: expected a URL such as https://events.pagerduty.com",
        ),
        (
            "pagerduty",
            {"routing_key": ROUTING_KEY, "url": "https://user:pw@evil.example/x"},
            "r.url: expected a URL such as",
        ),
        (
            "opsgenie",
            {"api_key": "k", "url": "https://api.opsgenie.com/v2/alerts"},
            "r.url: expected the base URL alone",
        ),
        (
            "opsgenie",
            {"api_key": "k", "url": "javascript:alert(1)"},
            "r.url: expected a URL such as https://api.opsgenie.com",
        ),
    ],
)
def test_a_pager_url_that_is_no_service_url_is_refused_without_echoing_it(
    kind: str, options: dict[str, str], message: str
) -> None:
    from sidekiq_watch.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        build_channel(kind, options, "r")
    assert message in str(refused.value)
    assert "pw" not in str(refused.value)


def test_a_batch_cannot_send_a_pager_s_key_elsewhere() -> None:
    """A batch may not choose where a pager's event goes: its routing key would follow it."""
    from sidekiq_watch.batches.config import parse_batch_config
    from sidekiq_watch.batches.payload import BatchEvent, BatchStatus
    from sidekiq_watch.errors import BatchRequestError

    config = parse_batch_config(
        {"channels": {"pager": {"type": "pagerduty", "routing_key": ROUTING_KEY}}}, "t"
    )
    status = BatchStatus.model_validate(
        {"bid": "b1", "notify": {"pager": {"url": "https://evil.example/v2/enqueue"}}}
    )
    with pytest.raises(BatchRequestError) as refused:
        config.plan(BatchEvent(status, "complete"))
    assert refused.value.problems == ["notify.pager.url: a batch may not set this"]
