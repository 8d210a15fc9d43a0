"""Prints the rendered notification: for trying a configuration locally before wiring real channels."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

from ..payload import BatchEvent
from ..render import plain_text
from .base import Options, Resources

PRINT_OPTIONS: set[str] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class PrintChannel:
    name: str
    kind: str = "print"

    @classmethod
    def from_options(cls, name: str, options: Options) -> PrintChannel:
        return cls(name)

    def deliver(self, event: BatchEvent, resources: Resources) -> str:
        with _lock:
            print(f"[{self.name}] {plain_text(event, resources.web_url)}", file=sys.stdout, flush=True)
        return "printed"
