"""JSON from outside (a batch callback, a job payload in Redis) decoded with only finite numbers.

Python's decoder takes Infinity, NaN and 1e999 (as inf) by default; no JSON consumer downstream can
take them back, and an infinite latency or count breaks every comparison and encoder after it.
"""

from __future__ import annotations

import json
import math
from typing import Any


class NotFiniteNumber(ValueError):
    """A JSON number that is Infinity or NaN, or a float too large to be finite."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFiniteNumber(text)
    return value


def _no_constant(name: str) -> float:
    raise NotFiniteNumber(name)


def loads_finite(text: str | bytes) -> Any:
    """json.loads, raising NotFiniteNumber for Infinity, NaN and floats beyond 1.8e308."""
    return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)


def depth_of(value: Any) -> int:
    """How deeply lists and objects nest in a decoded JSON value (a scalar is 0), without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            pending.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
