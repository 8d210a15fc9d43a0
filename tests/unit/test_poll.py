from datetime import UTC, datetime

import pytest

from sidekiq_watch.errors import DeliveryError, SourceError
from sidekiq_watch.poll import poll_once
from sidekiq_watch.settings import load_settings
from sidekiq_watch.slack import Payload
from sidekiq_watch.stats.snapshot import Snapshot

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


class FixedSource:
    location = "test"

    def __init__(self, snapshot: Snapshot | None = None, error: SourceError | None = None) -> None:
        self.snapshot, self.error = snapshot, error

    def read(self) -> Snapshot:
        if self.error:
            raise self.error
        assert self.snapshot is not None
        return self.snapshot


class RecordingNotifier:
    description = "recorded"

    def __init__(self, error: DeliveryError | None = None) -> None:
        self.sent: list[Payload] = []
        self.error = error

    def post(self, payload: Payload) -> None:
        if self.error:
            raise self.error
        self.sent.append(payload)


SETTINGS = load_settings({"SIDEKIQ_STATS_URL": "https://app.example.com/sidekiq/stats"})


def test_firing_rule_posts_one_message_with_figures_threshold_source_and_time() -> None:
    notifier = RecordingNotifier()
    report = poll_once(
        SETTINGS, FixedSource(Snapshot("handwritten", retries=60, enqueued=4)), notifier, now=NOW
    )
    [message] = notifier.sent
    assert message["text"] == (
        ":rotating_light: Sidekiq alert on app.example.com: retries is 60 (alert when retries &gt; 50) "
        "at 2026-11-25 07:00:00 UTC"
    )
    fields = [f["text"] for f in message["blocks"][2]["fields"]]
    assert fields == ["*enqueued*\n4", "*retries*\n60"]
    assert report.delivery == "recorded"


def test_quiet_sidekiq_posts_nothing() -> None:
    notifier = RecordingNotifier()
    report = poll_once(SETTINGS, FixedSource(Snapshot("handwritten", retries=50)), notifier, now=NOW)
    assert notifier.sent == []
    assert report.delivery == "nothing to send"


def test_unreadable_source_is_an_alert_with_the_reason() -> None:
    notifier = RecordingNotifier()
    error = SourceError(
        "timeout", "GET https://app.example.com/sidekiq/stats", "timed out waiting for an answer"
    )
    report = poll_once(SETTINGS, FixedSource(error=error), notifier, now=NOW)
    [message] = notifier.sent
    assert "Cannot read Sidekiq stats from app.example.com" in message["text"]
    assert "timed out waiting for an answer" in message["text"]
    assert report.as_dict()["source_error"]["kind"] == "timeout"


def test_permanent_delivery_failure_is_reported_not_raised() -> None:
    notifier = RecordingNotifier(DeliveryError("Slack", "HTTP 404 no_service", permanent=True, status=404))
    report = poll_once(SETTINGS, FixedSource(Snapshot("handwritten", retries=99)), notifier, now=NOW)
    assert report.delivery == "rejected: Slack: HTTP 404 no_service"


def test_transient_delivery_failure_is_raised_for_lambda_to_retry() -> None:
    notifier = RecordingNotifier(DeliveryError("Slack", "HTTP 503", permanent=False, status=503))
    with pytest.raises(DeliveryError):
        poll_once(SETTINGS, FixedSource(Snapshot("handwritten", retries=99)), notifier, now=NOW)


def test_source_name_overrides_the_host() -> None:
    settings = load_settings(
        {"SIDEKIQ_STATS_URL": "https://a.example.com/s", "SIDEKIQ_SOURCE_NAME": "billing"}
    )
    report = poll_once(
        settings, FixedSource(Snapshot("handwritten", retries=1)), RecordingNotifier(), now=NOW
    )
    assert report.source == "billing"


def test_untrusted_queue_names_cannot_ping_the_channel() -> None:
    notifier = RecordingNotifier()
    snapshot = Snapshot("handwritten", retries=60, queues={"<!channel>": 1})
    poll_once(SETTINGS, FixedSource(snapshot), notifier, now=NOW)
    assert "<!channel>" not in str(notifier.sent[0])
    assert "&lt;!channel&gt;" in str(notifier.sent[0])
