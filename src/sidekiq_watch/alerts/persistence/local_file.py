"""Alert state in a local JSON file, for laptops and `make run`: same contract as DynamoDB.

A lock file serialises writers, so two local polls racing behave as two Lambdas do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...jsonfile import CorruptFileError, locked_json
from ..history import History
from ..lifecycle import AlertRecord
from .base import TargetState
from .exceptions import StateConflictError, StateStoreError
from .records import record_from_dict, record_to_dict


def _valid(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("targets"), dict)


class LocalFileStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"local file {path}"

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        try:
            with locked_json(self.path, lambda: {"targets": {}}, _valid) as data:
                yield data
        except CorruptFileError as exc:
            raise StateStoreError(f"state file {exc}") from None
        except OSError as exc:
            raise StateStoreError(f"state file {self.path}: {exc.strerror}") from None

    def load(self, target: str) -> TargetState:
        with self._locked() as data:
            stored = data["targets"].get(target, {})
        records = {key: record_from_dict(raw) for key, raw in stored.get("records", {}).items()}
        return TargetState(records, History.from_list(stored.get("history", [])))

    def save(self, record: AlertRecord) -> None:
        with self._locked() as data:
            records = data["targets"].setdefault(record.target, {}).setdefault("records", {})
            stored_version = records.get(record.key, {}).get("version", 0)
            if stored_version != record.version - 1:
                raise StateConflictError(record.target, record.key)
            records[record.key] = record_to_dict(record)

    def save_history(self, target: str, history: History) -> None:
        with self._locked() as data:
            data["targets"].setdefault(target, {})["history"] = history.as_list()
