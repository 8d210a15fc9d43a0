"""Alert state in DynamoDB: one item per (target, rule), one history item per target.

Keys: ``pk`` = target name, ``sk`` = ``alert#<rule key>`` or ``history``. Writes are
conditional on the version (see base.py); the history item carries a TTL (``expires_at``) so
the state of a target that was removed from the configuration fades away on its own.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..history import History
from ..lifecycle import AlertRecord
from ..silences import KEPT_AFTER_END_SECONDS, Silence
from .base import TargetState, save_each
from .exceptions import StateConflictError, StateStoreError
from .records import record_from_dict, record_to_dict

HISTORY_TTL_SECONDS = 7 * 24 * 3600
ALERT_PREFIX = "alert#"
HISTORY_KEY = "history"
# Silences are the table's, not a target's: their own partition, each item's sort key prefixed
# (so even a target named "#silences" and its records stay apart).
SILENCES_PK = "#silences"
SILENCE_PREFIX = "silence#"
BATCH_WRITE_LIMIT = 25  # DynamoDB's per request
UNPROCESSED_ATTEMPTS = 4


def _partition(pk: str) -> dict[str, Any]:
    """A Query's arguments for every item of one partition."""
    return {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": pk}}}


def _client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


class DynamoDBStore:
    def __init__(self, table_name: str, client: Any | None = None, *, connections: int = 10) -> None:
        self.table_name = table_name
        self.description = f"DynamoDB table {table_name}"
        self._client = client
        self._connections = connections
        self._making_client = threading.Lock()

    @property
    def client(self) -> Any:
        """Made once, under a lock: targets are polled in threads, and boto3's default session cannot
        make clients concurrently (a cold container with 50 targets raised RuntimeError)."""
        with self._making_client:
            return self._client or self._make_client()

    def connect(self) -> DynamoDBStore:
        """Make the client now (importing boto3): the Lambda handler does it at init, where the CPU
        is not yet throttled to the function's share."""
        _ = self.client
        return self

    def _make_client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "dynamodb",
                config=Config(
                    connect_timeout=3,
                    read_timeout=5,
                    retries={"mode": "standard", "max_attempts": 5},
                    # As many as the threads polling targets: a connection beyond botocore's default 10
                    # was thrown away after each request, and the next paid a new TLS handshake.
                    max_pool_connections=self._connections,
                ),
            )
        return self._client

    def _fail(self, action: str, exc: Exception) -> StateStoreError:
        return StateStoreError(f"{self.description}: {action} failed ({_client_error_code(exc)})")

    def load(self, target: str) -> TargetState:
        try:
            states = self._states(self._items(self.client.query, **_partition(target)), {target})
        except Exception as exc:
            raise self._fail(f"reading the state of {target!r}", exc) from None
        return states.get(target, TargetState())

    def load_many(self, targets: Sequence[str]) -> dict[str, TargetState]:
        """One consistent Scan of the table, a page per MB, rather than a Query per target: a
        request's signing and parsing cost more CPU than its items (bench/lambda_model.py)."""
        wanted = set(targets)
        try:
            states = self._states(self._items(self.client.scan), wanted)
        except Exception as exc:
            raise self._fail(f"reading the state of {len(wanted)} targets", exc) from None
        return {target: states.get(target, TargetState()) for target in targets}

    def _items(self, call: Any, **query: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query or Scan finds, page after page, read consistently."""
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True, **query}
        while True:
            page = call(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _states(items: Iterable[dict[str, Any]], wanted: set[str]) -> dict[str, TargetState]:
        from boto3.dynamodb.types import TypeDeserializer

        deserialize = TypeDeserializer().deserialize
        records: dict[str, dict[str, AlertRecord]] = {}
        histories: dict[str, History] = {}
        for raw in items:
            target = raw["pk"]["S"]
            if target not in wanted:
                continue  # another target's, or the silences'
            item = {k: deserialize(v) for k, v in raw.items()}
            if item["sk"] == HISTORY_KEY:
                histories[target] = History.from_list(json.loads(item.get("points", "[]")))
            elif item["sk"].startswith(ALERT_PREFIX):
                record = record_from_dict(item)
                records.setdefault(target, {})[record.key] = record
        return {
            target: TargetState(records.get(target, {}), histories.get(target, History()))
            for target in set(records) | set(histories)
        }

    def save(self, record: AlertRecord) -> None:
        from boto3.dynamodb.types import TypeSerializer

        serialize = TypeSerializer().serialize
        data = json.loads(json.dumps(record_to_dict(record)), parse_float=Decimal)
        item = {"pk": record.target, "sk": ALERT_PREFIX + record.key, **data}
        if record.version == 1:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :previous",
                "ExpressionAttributeValues": {":previous": {"N": str(record.version - 1)}},
            }
        client = self.client
        try:
            client.put_item(
                TableName=self.table_name, Item={k: serialize(v) for k, v in item.items()}, **condition
            )
        except client.exceptions.ConditionalCheckFailedException:
            raise StateConflictError(record.target, record.key) from None
        except Exception as exc:
            raise self._fail(f"saving {record.target!r} / {record.key!r}", exc) from None

    def save_all(self, records: Sequence[AlertRecord]) -> None:
        # DynamoDB's one conditional multi-item write is a transaction, all or nothing: one conflict
        # would lose every record. One conditional put each, linear in the records.
        save_each(self, records)

    def load_silences(self) -> tuple[Silence, ...]:
        try:
            found = [
                Silence.from_dict(json.loads(item["silence"]["S"]))
                for item in self._items(self.client.query, **_partition(SILENCES_PK))
            ]
        except Exception as exc:
            raise self._fail("reading the silences", exc) from None
        return tuple(sorted(found, key=lambda silence: silence.starts_at))

    def save_silence(self, silence: Silence) -> None:
        item = {
            "pk": {"S": SILENCES_PK},
            "sk": {"S": SILENCE_PREFIX + silence.id},
            "silence": {"S": json.dumps(silence.as_dict(), separators=(",", ":"))},
            "expires_at": {"N": str(int(silence.ends_at + KEPT_AFTER_END_SECONDS))},
        }
        try:
            self.client.put_item(TableName=self.table_name, Item=item)
        except Exception as exc:
            raise self._fail(f"saving silence {silence.id}", exc) from None

    def save_history(self, target: str, history: History) -> None:
        self.save_histories({target: history})

    def save_histories(self, histories: Mapping[str, History]) -> None:
        """BatchWriteItem, 25 a request (last writer wins: no condition needed); what DynamoDB
        leaves unprocessed is sent again, a few times, within the client's own retries."""
        expires_at = {"N": str(int(time.time()) + HISTORY_TTL_SECONDS)}
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": target},
                        "sk": {"S": HISTORY_KEY},
                        "points": {"S": json.dumps(history.as_list(), separators=(",", ":"))},
                        "expires_at": expires_at,
                    }
                }
            }
            for target, history in histories.items()
        ]
        try:
            for start in range(0, len(requests), BATCH_WRITE_LIMIT):
                pending = requests[start : start + BATCH_WRITE_LIMIT]
                for attempt in range(UNPROCESSED_ATTEMPTS):
                    if attempt:
                        time.sleep(0.05 * 2**attempt)
                    answer = self.client.batch_write_item(RequestItems={self.table_name: pending})
                    pending = answer.get("UnprocessedItems", {}).get(self.table_name, [])
                    if not pending:
                        break
                else:
                    raise StateStoreError(f"{self.description}: {len(pending)} histories left unprocessed")
        except StateStoreError:
            raise
        except Exception as exc:
            names = ", ".join(repr(target) for target in list(histories)[:3])
            raise self._fail(f"saving the history of {names}", exc) from None
