"""A thread-safe in-memory Powertools persistence layer: the same semantics as DynamoDB's, for soak tests."""

from __future__ import annotations

import datetime
import threading

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord


class MemoryRecords:
    def __init__(self) -> None:
        self.records: dict[str, DataRecord] = {}
        self.lock = threading.Lock()


class MemoryPersistenceLayer(BasePersistenceLayer):
    def __init__(self, shared: MemoryRecords) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.shared = shared

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self.shared.lock:
            record = self.shared.records.get(idempotency_key)
        if record is None:
            raise IdempotencyItemNotFoundError
        return record

    def _put_record(self, data_record: DataRecord) -> None:
        with self.shared.lock:
            old = self.shared.records.get(data_record.idempotency_key)
            if old is not None and not old.is_expired:
                now_ms = int(datetime.datetime.now().timestamp() * 1000)
                stale = (
                    old.status == STATUS_CONSTANTS["INPROGRESS"]
                    and old.in_progress_expiry_timestamp is not None
                    and old.in_progress_expiry_timestamp < now_ms
                )
                if not stale:
                    raise IdempotencyItemAlreadyExistsError(old_data_record=old)
            self.shared.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        with self.shared.lock:
            self.shared.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        with self.shared.lock:
            self.shared.records.pop(data_record.idempotency_key, None)
