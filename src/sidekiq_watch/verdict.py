"""How a poll or a check ended, as one value: the CLI's exit status and the handler's failure both read it.

Words are made where they are shown (the CLI's exit-status table); here only the kinds.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    OK = "ok"
    ALERTING = "alerting"  # a rule fires, or a source cannot be read: what the tool is for
    CONFIG = "config"  # the configuration (or a secret it references) cannot be used
    DELIVERY = "delivery"  # a message did not get out
    FAILED = "failed"  # the poll could not finish: alert state unavailable, an unexpected error, time
