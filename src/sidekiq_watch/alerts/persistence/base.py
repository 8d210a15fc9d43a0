"""The contract every alert-state backend fulfils; callers depend on this, never on a backend.

Exactly-once rests on one primitive: ``save`` writes a record only if the stored version is
the one before it (or, for version 1, if none is stored), so of two invocations racing on the
same transition exactly one wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..history import History
from ..lifecycle import AlertRecord
from ..silences import Silence
from .exceptions import StateConflictError, StateConflictsError


@dataclass(frozen=True)
class TargetState:
    records: dict[str, AlertRecord] = field(default_factory=dict)
    history: History = field(default_factory=History)


class AlertStore(Protocol):
    """Alert records per (target, rule key), and each target's figure history."""

    description: str

    def load(self, target: str) -> TargetState:
        """Every record and the history of one target, in one read."""
        ...

    def save(self, record: AlertRecord) -> None:
        """Write ``record`` if the stored version is ``record.version - 1``; raises StateConflictError
        when another writer won (as Powertools raises IdempotencyItemAlreadyExistsError)."""
        ...

    def load_many(self, targets: Sequence[str]) -> dict[str, TargetState]:
        """``load`` for many targets at once, in as few requests as the backend allows."""
        ...

    def save_all(self, records: Sequence[AlertRecord]) -> None:
        """``save`` for each record of one target, in as few writes as the backend allows (one file
        write; one request per record in DynamoDB): the cost stays linear in the records. Each is its
        own conditional write; those that lost are raised together as StateConflictsError, after the
        others were written."""
        ...

    def save_history(self, target: str, history: History) -> None:
        """Replace the target's history (last writer wins: a lost write costs one poll's point)."""
        ...

    def save_histories(self, histories: Mapping[str, History]) -> None:
        """``save_history`` for many targets, in as few requests as the backend allows."""
        ...

    def load_silences(self) -> tuple[Silence, ...]:
        """Every silence, active or ended within the last week, in one read."""
        ...

    def save_silence(self, silence: Silence) -> None:
        """Add or replace one silence (expiring one is saving it with its end now)."""
        ...


def save_each(store: AlertStore, records: Sequence[AlertRecord]) -> None:
    """``save_all`` for a backend that writes one record per request."""
    lost = []
    for record in records:
        try:
            store.save(record)
        except StateConflictError:
            lost.append(record)
    if lost:
        raise StateConflictsError(lost[0].target, tuple(record.key for record in lost))
