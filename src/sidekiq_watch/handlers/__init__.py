"""Lambda entry points only: parse the event, call domain code, shape the response."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable


def prepare_at_init(prepare: Callable[[], object]) -> None:
    """Run ``prepare`` while the handler's module is imported in Lambda (or sam local): init runs on
    an unthrottled CPU, the handler on its memory's share (docs/performance.md). Never on a test's or
    the CLI's import, whose settings may be set after it. A failure is left for the first invocation,
    which meets it again and answers for it."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return
    with contextlib.suppress(Exception):
        prepare()
