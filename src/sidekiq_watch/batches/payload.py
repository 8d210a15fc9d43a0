"""The batch status payload, as Sidekiq Pro's webhook notifier sent it (and callbacks send it now).

``bid``, ``total``, ``failures``, ``pending``, ``created_at``, ``complete``, ``description`` and
``failure_info`` (``jid``, ``error_class``, ``error_message``, ``backtrace``); unknown fields
are kept, never rejected, since every callback writer adds their own.

Which event it is: the payload's ``event`` field if present, else the ``?event=`` query
parameter, else derived from the counts: no job pending means ``success``, otherwise
``complete`` (all jobs ran once, some failed and may be retrying).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

BatchEventName = Literal["complete", "success", "death"]
# death: a job of the batch died (Sidekiq Pro 5+, batch.on(:death, ...)); Pro 7.0.x fires it per dead job.
EVENTS: tuple[BatchEventName, ...] = ("complete", "success", "death")


class FailureInfo(BaseModel):
    """One failed job of the batch."""

    model_config = ConfigDict(extra="allow")

    jid: str | None = Field(default=None, max_length=200)
    error_class: str | None = Field(default=None, max_length=1000)
    error_message: str | None = Field(default=None, max_length=20_000)
    backtrace: list[str] | str | None = None


class DeadJob(BaseModel):
    """A job of the batch in the Dead set, as the callback found it there (class and error)."""

    model_config = ConfigDict(extra="allow")

    jid: str | None = Field(default=None, max_length=200)
    job_class: str | None = Field(default=None, max_length=1000, alias="class")
    error_class: str | None = Field(default=None, max_length=1000)
    error_message: str | None = Field(default=None, max_length=20_000)


class BatchStatus(BaseModel):
    """A batch's status as POSTed by the notifier or a callback."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    bid: str = Field(min_length=1, max_length=200, pattern=r"^\S+$")
    total: NonNegativeInt | None = None
    failures: NonNegativeInt | None = None
    pending: NonNegativeInt | None = None
    created_at: float | str | None = None
    complete: bool | None = None
    description: str | None = Field(default=None, max_length=10_000)
    event: BatchEventName | None = None
    failure_info: list[FailureInfo] = Field(default_factory=list, max_length=10_000)
    dead_jobs: list[DeadJob] = Field(default_factory=list, max_length=100)
    # The batch's own choice of channels and options, as Pro 2's batch.on(:complete, Notifier, opts).
    notify: dict[str, Any] | None = Field(default=None, max_length=20)

    def as_sent(self) -> dict[str, Any]:
        """The status as webhook and SNS consumers get it: what happened, not the delivery instructions."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"notify"}, by_alias=True)


@dataclass(frozen=True)
class BatchEvent:
    """A batch status and the event it reports: what channels are told about."""

    status: BatchStatus
    event: BatchEventName

    @property
    def bid(self) -> str:
        return self.status.bid

    @property
    def succeeded(self) -> bool:
        return self.event == "success"


def event_of(status: BatchStatus, query_event: str | None = None) -> BatchEventName:
    """The payload's own word first, then the query string's, then the counts."""
    if status.event is not None:
        return status.event
    if query_event in EVENTS:
        return query_event
    return "success" if status.pending == 0 else "complete"
