"""AlertRecord to and from plain dicts, shared by the backends."""

from __future__ import annotations

from dataclasses import asdict, fields
from decimal import Decimal
from typing import Any

from ..lifecycle import AlertRecord

_FIELDS = {f.name for f in fields(AlertRecord)}


def record_to_dict(record: AlertRecord) -> dict[str, Any]:
    return {k: v for k, v in asdict(record).items() if v is not None}


def record_from_dict(data: dict[str, Any]) -> AlertRecord:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _FIELDS:
            continue
        if isinstance(value, Decimal):
            value = int(value) if key in ("version", "failures") else float(value)
        values[key] = value
    return AlertRecord(**values)
