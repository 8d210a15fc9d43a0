import pytest
from pydantic import ValidationError

from sidekiq_watch.batches.payload import BatchStatus, event_of
from tests.unit.batches.helpers import sample_body


def test_complete_payload_with_failures_parses() -> None:
    status = BatchStatus.model_validate(sample_body("batch-complete-with-failures.json"))
    assert (status.bid, status.total, status.failures, status.pending) == ("a8b2c1d4e5f60718", 50, 2, 2)
    assert [f.error_class for f in status.failure_info] == ["StandardError", "Net::ReadTimeout"]
    assert status.failure_info[0].jid == "6ea2b3a2f1c4d5e6f7a8b9c0"


def test_unknown_fields_are_kept() -> None:
    status = BatchStatus.model_validate({"bid": "b1", "parent_bid": "p0", "callback_queue": "low"})
    assert status.model_dump()["parent_bid"] == "p0"


def test_missing_bid_is_rejected() -> None:
    with pytest.raises(ValidationError, match="bid"):
        BatchStatus.model_validate({"total": 1})


@pytest.mark.parametrize("field", ["total", "failures", "pending"])
def test_negative_counts_are_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        BatchStatus.model_validate({"bid": "b1", field: -1})


def test_event_in_the_payload_wins() -> None:
    status = BatchStatus.model_validate({"bid": "b", "pending": 3, "event": "success"})
    assert event_of(status, "complete") == "success"


def test_query_event_is_used_when_the_payload_says_none() -> None:
    assert event_of(BatchStatus.model_validate({"bid": "b", "pending": 0}), "complete") == "complete"


@pytest.mark.parametrize(("pending", "expected"), [(0, "success"), (2, "complete"), (None, "complete")])
def test_event_is_derived_from_pending_jobs(pending: int | None, expected: str) -> None:
    assert event_of(BatchStatus.model_validate({"bid": "b", "pending": pending})) == expected
