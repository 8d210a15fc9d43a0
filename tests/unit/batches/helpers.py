"""Shared bits for batch tests: sample payloads from events/, and events built from them."""

from __future__ import annotations

import json
from typing import Any

from sidekiq_watch.batches.payload import BatchEvent, BatchStatus, event_of
from tests.conftest import load_event


def sample_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(load_event(name)["body"])
    return body


def sample_event(name: str = "batch-complete-with-failures.json", event: str | None = None) -> BatchEvent:
    status = BatchStatus.model_validate(sample_body(name))
    return BatchEvent(status, event_of(status, event))  # type: ignore[arg-type]
