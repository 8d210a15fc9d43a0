"""Where alert state lives: the contract (base) and its backends (DynamoDB, a local file)."""

from .base import AlertStore, TargetState
from .exceptions import StateStoreError

__all__ = ["AlertStore", "StateStoreError", "TargetState"]
