"""The one locked JSON file store: alert state and delivery records on a laptop, one error policy.

Writers are serialised by a lock file; a change is written atomically (a temporary file renamed).
A file that is not the JSON expected is never silently overwritten: it is kept aside, and the
error names both places, so nothing it held is lost without a word.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import SidekiqWatchError


class CorruptFileError(SidekiqWatchError):
    """A local state file held something other than the JSON expected; it was kept aside."""

    def __init__(self, path: Path, aside: Path) -> None:
        self.path = path
        self.aside = aside
        super().__init__(f"{path} was not valid JSON; kept aside as {aside} and starting afresh next time")


@contextmanager
def locked_json(
    path: Path, empty: Callable[[], dict[str, Any]], valid: Callable[[Any], bool]
) -> Iterator[dict[str, Any]]:
    """The file's document, locked; written back (atomically) only if the caller changed it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            data = empty()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _set_aside(path) from None
        if not valid(data):
            raise _set_aside(path)
        before = json.dumps(data, sort_keys=True)
        yield data
        if json.dumps(data, sort_keys=True) != before:
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
            temporary.replace(path)


def _set_aside(path: Path) -> CorruptFileError:
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    path.replace(aside)
    return CorruptFileError(path, aside)
