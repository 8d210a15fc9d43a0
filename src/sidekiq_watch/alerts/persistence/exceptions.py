"""Failures of the alert state stores."""

from ...errors import SidekiqWatchError


class StateStoreError(SidekiqWatchError):
    """The alert state could not be read or written (after the backend's own retries)."""


class StateConflictError(StateStoreError):
    """Another writer saved this record first: the conditional write lost."""

    def __init__(self, target: str, key: str) -> None:
        self.target = target
        self.key = key
        super().__init__(f"{target!r} / {key!r}: another invocation wrote this alert's state first")


class StateConflictsError(StateStoreError):
    """Some records of a ``save_all`` lost their conditional write; the others were written."""

    def __init__(self, target: str, keys: tuple[str, ...]) -> None:
        self.target = target
        self.keys = keys
        super().__init__(f"{target!r}: another invocation wrote {len(keys)} alert(s)' state first")
