"""Alert state in process memory: the same contract, for benchmarks and tests, never for deployments."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..history import History
from ..lifecycle import AlertRecord
from .base import TargetState


class MemoryStore:
    def __init__(self) -> None:
        self.description = "memory"
        self.records: dict[tuple[str, str], AlertRecord] = {}
        self.histories: dict[str, History] = {}
        self._lock = threading.Lock()

    def load(self, target: str) -> TargetState:
        with self._lock:
            records = {key: r for (name, key), r in self.records.items() if name == target}
            return TargetState(records, self.histories.get(target, History()))

    def save(self, record: AlertRecord) -> bool:
        with self._lock:
            stored = self.records.get((record.target, record.key))
            if (stored.version if stored else 0) != record.version - 1:
                return False
            self.records[(record.target, record.key)] = record
            return True

    def save_all(self, records: Sequence[AlertRecord]) -> None:
        for record in records:
            self.save(record)

    def save_history(self, target: str, history: History) -> None:
        with self._lock:
            self.histories[target] = history
