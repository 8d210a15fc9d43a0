"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidekiq_watch.alerts.persistence import AlertStore
from sidekiq_watch.alerts.persistence.dynamodb import DynamoDBStore
from sidekiq_watch.alerts.persistence.local_file import LocalFileStore
from tests.support.aws import create_state_table


@pytest.fixture(params=["file", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlertStore]:
    """Each alert store in turn: what holds for one must hold for both."""
    if request.param == "file":
        yield LocalFileStore(tmp_path / "state.json")
    else:
        request.getfixturevalue("aws")
        yield DynamoDBStore(create_state_table())
