"""Failures of the alert state stores."""

from ...errors import SidekiqWatchError


class StateStoreError(SidekiqWatchError):
    """The alert state could not be read or written (after the backend's own retries)."""
