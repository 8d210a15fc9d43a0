"""Alert state in a local JSON file, for laptops and `make run`: same contract as DynamoDB.

A lock file serialises writers, so two local polls racing behave as two Lambdas do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...jsonfile import CorruptFileError, locked_json
from ..history import History
from ..lifecycle import AlertRecord
from ..silences import KEPT_AFTER_END_SECONDS, Silence
from .base import TargetState
from .exceptions import StateConflictError, StateConflictsError, StateStoreError
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
        return self.load_many([target])[target]

    def load_many(self, targets: Sequence[str]) -> dict[str, TargetState]:
        with self._locked() as data:
            stored = {target: data["targets"].get(target, {}) for target in targets}
        return {
            target: TargetState(
                {key: record_from_dict(raw) for key, raw in found.get("records", {}).items()},
                History.from_list(found.get("history", [])),
            )
            for target, found in stored.items()
        }

    def save(self, record: AlertRecord) -> None:
        try:
            self.save_all([record])
        except StateConflictsError:
            raise StateConflictError(record.target, record.key) from None

    def save_all(self, records: Sequence[AlertRecord]) -> None:
        """Every record under one lock and one file write."""
        lost = []
        with self._locked() as data:
            for record in records:
                stored = data["targets"].setdefault(record.target, {}).setdefault("records", {})
                if stored.get(record.key, {}).get("version", 0) != record.version - 1:
                    lost.append(record)
                    continue
                stored[record.key] = record_to_dict(record)
        if lost:
            raise StateConflictsError(lost[0].target, tuple(record.key for record in lost))

    def save_history(self, target: str, history: History) -> None:
        self.save_histories({target: history})

    def save_histories(self, histories: Mapping[str, History]) -> None:
        with self._locked() as data:
            for target, history in histories.items():
                data["targets"].setdefault(target, {})["history"] = history.as_list()

    def load_silences(self) -> tuple[Silence, ...]:
        with self._locked() as data:
            stored = dict(data.get("silences", {}))
        return tuple(sorted((Silence.from_dict(raw) for raw in stored.values()), key=lambda s: s.starts_at))

    def save_silence(self, silence: Silence) -> None:
        """Saved, and what ended over a week ago dropped (DynamoDB's TTL does that there)."""
        with self._locked() as data:
            silences = data.setdefault("silences", {})
            silences[silence.id] = silence.as_dict()
            horizon = silence.starts_at - KEPT_AFTER_END_SECONDS  # by the silence's clock, not this one's
            for old in [key for key, raw in silences.items() if float(raw.get("ends_at", 0)) < horizon]:
                del silences[old]
