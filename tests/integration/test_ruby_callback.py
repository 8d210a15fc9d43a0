"""The README's Ruby batch callback, run by real Ruby against the real handler logic on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sidekiq_watch.batches.intake import IncomingRequest, parse_request
from sidekiq_watch.batches.payload import BatchEvent
from sidekiq_watch.settings import load_batch_settings
from tests.conftest import ROOT
from tests.support.servers import Received, Reply, local_server

pytestmark = pytest.mark.integration
CALLBACK = ROOT / "docs" / "sidekiq_watch_callback.rb"

# Stands in for Sidekiq::Batch::Status: the same methods a callback receives.
DRIVER = """
require_relative ENV.fetch("CALLBACK")
Failure = Struct.new(:jid, :error_class, :error_message, :backtrace)
Status = Struct.new(:bid, :total, :failures, :pending, :created_at, :description, :failure_info) do
  def complete? = true
end
status = Status.new("b1c2d3", 50, 1, 1, 1795589400.5, "Nightly <!channel> import",
                    [Failure.new("j1", "RuntimeError", "boom", ["a.rb:1"])])
SidekiqWatchCallback.new.on_complete(status, {"notify" => {"slack" => {"channel" => "#imports"}}})
"""

# Stands in for the sidekiq-batch gem's status: no description, failed job ids as plain strings.
GEM_DRIVER = """
require_relative ENV.fetch("CALLBACK")
Status = Struct.new(:bid, :total, :failures, :pending, :created_at, :failure_info) do
  def complete?
    true
  end
end
SidekiqWatchCallback.new.on_success(Status.new("g1", 3, 1, 0, "1795589400", ["jid-1"]), nil)
"""


# Sidekiq Pro's death callback, with a stand-in for the Dead set (the part of sidekiq/api it uses).
DEATH_DRIVER = """
module Sidekiq
  Entry = Struct.new(:jid, :display_class, :fields) do
    def [](key) = fields[key]
  end
  class DeadSet
    JOBS = [Entry.new("j9", "ImportRowJob", {"error_class" => "ImportError", "error_message" => "row 7"})]
    def scan(match) = JOBS.select { |job| job.jid.include?(match) }
  end
end
require_relative ENV.fetch("CALLBACK")
Failure = Struct.new(:jid, :error_class, :error_message, :backtrace)
Status = Struct.new(:bid, :total, :failures, :pending, :created_at, :description, :failure_info) do
  def complete? = false
end
failure = Failure.new("j9", "ImportError", "row 7", [])
status = Status.new("d1", 10, 1, 1, 1795589400.5, "Nightly import", [failure])
SidekiqWatchCallback.new.on_death(status, {})
"""


def run_ruby(tmp_path: Path, driver_text: str, url: str) -> subprocess.CompletedProcess[str]:
    driver = tmp_path / "driver.rb"
    driver.write_text(driver_text)
    return subprocess.run(
        ["ruby", str(driver)],
        env={
            "CALLBACK": str(CALLBACK),
            "SIDEKIQ_WATCH_URL": url,
            "SIDEKIQ_WATCH_PASSWORD": "pw",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def post_through_the_callback(tmp_path: Path, driver: str) -> BatchEvent:
    """Run the callback under real Ruby against a stand-in that parses what arrives as the function does."""
    if shutil.which("ruby") is None:
        pytest.skip("needs ruby")
    settings = load_batch_settings({"BATCH_AUTH_USERNAME": "sidekiq", "BATCH_AUTH_PASSWORD": "pw"}).admission
    parsed: list[object] = []

    def webhook(request: Received) -> Reply:
        parsed.append(parse_request(settings, IncomingRequest(request.headers, request.body)))
        return Reply(200, b"{}", {"Content-Type": "application/json"})

    with local_server(webhook) as server:
        result = run_ruby(tmp_path, driver, f"{server.url}/batches")
    assert result.returncode == 0, result.stderr
    [event] = parsed
    assert isinstance(event, BatchEvent)
    return event


def test_the_documented_callback_posts_a_payload_the_webhook_accepts(tmp_path: Path) -> None:
    event = post_through_the_callback(tmp_path, DRIVER)
    assert (event.bid, event.event, event.status.total, event.status.pending) == ("b1c2d3", "complete", 50, 1)
    assert event.status.failure_info[0].error_class == "RuntimeError"
    assert event.status.notify == {"slack": {"channel": "#imports"}}  # the batch's own options travel


def test_the_callback_works_with_the_sidekiq_batch_gems_status(tmp_path: Path) -> None:
    event = post_through_the_callback(tmp_path, GEM_DRIVER)
    assert (event.bid, event.event, event.status.description) == ("g1", "success", None)
    assert event.status.failure_info[0].jid == "jid-1"


@pytest.mark.parametrize(("status", "retried"), [(422, False), (401, False), (429, True), (503, True)])
def test_the_callback_retries_only_what_a_retry_can_fix(tmp_path: Path, status: int, retried: bool) -> None:
    """Sidekiq retries a callback that raises: it must not raise for a 4xx a retry cannot fix."""
    if shutil.which("ruby") is None:
        pytest.skip("needs ruby")
    with local_server(
        lambda request: Reply(status, b'{"error": "no"}', {"Content-Type": "application/json"})
    ) as server:
        result = run_ruby(tmp_path, DRIVER, f"{server.url}/batches")
    assert (result.returncode != 0) is retried, result.stderr


def test_the_death_callback_names_the_dead_job_from_the_dead_set(tmp_path: Path) -> None:
    event = post_through_the_callback(tmp_path, DEATH_DRIVER)
    assert (event.bid, event.event) == ("d1", "death")
    [dead] = event.status.dead_jobs
    assert (dead.jid, dead.job_class, dead.error_class) == ("j9", "ImportRowJob", "ImportError")
