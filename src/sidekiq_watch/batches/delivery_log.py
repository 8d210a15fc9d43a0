"""Exactly once per (bid, event, channel), on Powertools Idempotency.

Powertools records a delivery as in progress before it runs, completed after, and deletes the
record when it raises: so a re-sent webhook or a Lambda retry repeats only the channels that
failed, and a concurrent duplicate finds the delivery in progress. Locally, without a table,
records live in a JSON file with the same semantics.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord

from ..jsonfile import locked_json

KEY_PREFIX = "sidekiq-watch-batch-delivery"
RECORD_DAYS = 7


class LocalFilePersistenceLayer(BasePersistenceLayer):
    """Idempotency records in a local JSON file (laptops, `sidekiq-watch invoke`, `listen`)."""

    def __init__(self, path: Path) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.path = path

    def _update(self, change: Callable[[dict[str, Any]], Any]) -> Any:
        """Under the lock; a corrupt file is kept aside and raised, never emptied in silence."""
        with locked_json(self.path, dict, lambda data: isinstance(data, dict)) as records:
            return change(records)

    @staticmethod
    def _record(key: str, raw: dict[str, Any]) -> DataRecord:
        return DataRecord(
            idempotency_key=key,
            status=raw["status"],
            expiry_timestamp=raw.get("expiry"),
            in_progress_expiry_timestamp=raw.get("in_progress_expiry"),
            response_data=raw.get("data") or "",
            payload_hash=raw.get("hash") or "",
        )

    @staticmethod
    def _raw(record: DataRecord) -> dict[str, Any]:
        return {
            "status": record.status,
            "expiry": record.expiry_timestamp,
            "in_progress_expiry": record.in_progress_expiry_timestamp,
            "data": record.response_data,
            "hash": record.payload_hash,
        }

    def _get_record(self, idempotency_key: str) -> DataRecord:
        raw = self._update(lambda records: records.get(idempotency_key))
        if raw is None:
            raise IdempotencyItemNotFoundError
        return self._record(idempotency_key, raw)

    def _put_record(self, data_record: DataRecord) -> None:
        def put(records: dict[str, Any]) -> None:
            existing = records.get(data_record.idempotency_key)
            if existing is not None:
                old = self._record(data_record.idempotency_key, existing)
                now_ms = int(datetime.datetime.now().timestamp() * 1000)
                in_progress_over = (
                    old.status == STATUS_CONSTANTS["INPROGRESS"]
                    and old.in_progress_expiry_timestamp is not None
                    and old.in_progress_expiry_timestamp < now_ms
                )
                if not old.is_expired and not in_progress_over:
                    raise IdempotencyItemAlreadyExistsError(old_data_record=old)
            records[data_record.idempotency_key] = self._raw(data_record)

        self._update(put)

    def _update_record(self, data_record: DataRecord) -> None:
        self._update(lambda records: records.__setitem__(data_record.idempotency_key, self._raw(data_record)))

    def _delete_record(self, data_record: DataRecord) -> None:
        self._update(lambda records: records.pop(data_record.idempotency_key, None))


class LocalDeadline:
    """Outside Lambda: an in-progress record left by a crash unblocks after this long."""

    def __init__(self, seconds: float = 120.0) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class DeliveryLog:
    """Runs each (bid, event, channel) delivery at most once successfully."""

    def __init__(
        self, persistence: Callable[[], BasePersistenceLayer], lambda_context: Any | None = None
    ) -> None:
        self.persistence = persistence
        self.lambda_context = lambda_context

    def once(self, bid: str, event: str, channel: str, deliver: Callable[[], str]) -> tuple[str, bool]:
        """The delivery's detail, and whether it had already been delivered (nothing was sent now)."""
        config = IdempotencyConfig(
            event_key_jmespath="[bid, event, channel]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=RECORD_DAYS * 86400,
        )
        config.register_lambda_context(self.lambda_context or LocalDeadline())  # type: ignore[arg-type]
        ran = False

        # A persistence layer per delivery: Powertools' layers keep per-call state; channels run in threads.
        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="delivery",
            persistence_store=self.persistence(),
            config=config,
            key_prefix=KEY_PREFIX,
        )
        def attempt(delivery: dict[str, str]) -> dict[str, str]:
            nonlocal ran
            ran = True
            return {"detail": deliver()}

        result = attempt(delivery={"bid": bid, "event": event, "channel": channel})
        return str(result.get("detail", "")), not ran


def persistence_for(delivery_table: str | None, local_file: Path) -> Callable[[], BasePersistenceLayer]:
    """DynamoDB records when a table is named, else the local file; one factory, called per delivery."""
    if not delivery_table:
        return lambda: LocalFilePersistenceLayer(local_file)
    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    client = boto3.client("dynamodb")
    return lambda: DynamoDBPersistenceLayer(table_name=delivery_table, boto3_client=client)
