"""Prints the message instead of sending it: for trying a configuration locally, and the dry run."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from typing import IO

from .base import Options, Resources
from .message import Message, as_plain_text
from .slack import slack_payload

PRINT_OPTIONS = {"form"}
FORMS = ("text", "slack")
_lock = threading.Lock()  # messages of concurrent targets or channels stay whole


@dataclass(frozen=True)
class PrintChannel:
    """``form: text`` prints the plain text; ``form: slack`` the Block Kit JSON that would be posted."""

    name: str
    form: str = "text"
    heading: str | None = None
    stream: IO[str] | None = None
    kind: str = "print"

    @classmethod
    def from_options(cls, name: str, options: Options) -> PrintChannel:
        return cls(name, options.choice("form", FORMS, "text"))

    def deliver(self, message: Message, resources: Resources) -> str:
        out = self.stream or sys.stdout
        if self.form == "slack":
            shown = json.dumps(slack_payload(message), indent=2, ensure_ascii=False)
        else:
            shown = f"[{self.name}] {as_plain_text(message)}"
        with _lock:
            if self.heading:
                out.write(self.heading + "\n")
            out.write(shown + "\n")
            out.flush()
        return "printed"
