"""Local state files: one lock, one error policy; a corrupt file is kept aside and named, never
silently emptied (the delivery log used to overwrite it, losing every exactly-once record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidekiq_watch.alerts.persistence.exceptions import StateStoreError
from sidekiq_watch.alerts.persistence.local_file import LocalFileStore
from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.fanout import dispatch
from sidekiq_watch.channels import Resources
from tests.unit.batches.helpers import sample_event


def test_a_corrupt_delivery_log_is_kept_aside_and_named(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.json"
    path.write_text('{"sidekiq-watch-batch-delivery#abc": {"status": "COMPLETED"')  # cut off mid-write
    config = parse_batch_config({"channels": {"console": {"type": "print"}}}, "test")
    log = DeliveryLog(lambda: LocalFilePersistenceLayer(path))
    _, [outcome] = dispatch(sample_event(), config, Resources(), log)
    assert outcome.status == "failed"
    assert str(path) in outcome.detail
    [aside] = tmp_path.glob("deliveries.json.corrupt-*")
    assert aside.read_text().startswith('{"sidekiq-watch-batch-delivery#abc"')
    _, [again] = dispatch(sample_event(), config, Resources(), log)  # the next request starts afresh
    assert again.status == "delivered"


def test_a_corrupt_state_file_is_kept_aside_and_named(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(["not", "the", "state"]))
    with pytest.raises(StateStoreError) as caught:
        LocalFileStore(path).load("shop")
    assert str(path) in str(caught.value)
    assert list(tmp_path.glob("state.json.corrupt-*"))
    assert LocalFileStore(path).load("shop").records == {}


def test_reading_does_not_rewrite_the_delivery_log(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.json"
    path.write_text("{}")
    before = path.stat().st_mtime_ns
    layer = LocalFilePersistenceLayer(path)
    with pytest.raises(Exception):  # noqa: B017, PT011 - not found: Powertools' own exception
        layer._get_record("missing")
    assert path.stat().st_mtime_ns == before
