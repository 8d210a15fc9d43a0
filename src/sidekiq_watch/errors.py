"""The exception family: every failure a user can meet, named for what went wrong.

Messages never carry a secret (webhook URL, token, password): they name the variable or the
redacted location instead, and wrapped library exceptions are raised ``from None`` so their
text (which often contains the full URL) never reaches a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")


def kind_of(value: object) -> str:
    """What a value is, in words: errors about fields that may hold a secret never show the value."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class SidekiqWatchError(Exception):
    """Base class of every error sidekiq-watch raises on purpose."""


class ConfigError(SidekiqWatchError):
    """The configuration is invalid; the message names each bad variable."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


def gather(problems: list[str], check: Callable[[], T]) -> T | None:
    """Run one check, keeping its ConfigError's problems: so a document's errors are told all at once."""
    try:
        return check()
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


class BatchRequestError(SidekiqWatchError):
    """A batch asked for something the configuration does not allow (its own channels or options)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class SecretError(ConfigError):
    """A secret reference (ssm:, secretsmanager:) could not be resolved."""


TransportKind = Literal["connect", "dns", "timeout", "reset", "too_large", "ssl", "invalid_url"]


class TransportError(SidekiqWatchError):
    """An HTTP exchange failed below the HTTP layer: nothing usable came back."""

    def __init__(self, kind: TransportKind, location: str, detail: str) -> None:
        self.kind = kind
        self.location = location
        self.detail = detail
        super().__init__(f"{location}: {detail}")


def causes(exc: BaseException) -> list[BaseException]:
    """An exception and everything it wraps (cause, context, and exceptions kept in its args or in a
    urllib3 ``reason``), so failures are classified by type, never by parsing message text."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
        pending += [item for item in linked if isinstance(item, BaseException)]
    return seen


SourceKind = Literal[
    "connect",
    "dns",
    "timeout",
    "reset",
    "too_large",
    "ssl",
    "invalid_url",
    "http_status",
    "login_redirect",
    "not_json",
    "unknown_shape",
    "bad_value",
    "not_found",
    "auth",
    "protocol",
]


class SourceError(SidekiqWatchError):
    """Sidekiq's figures could not be read; ``kind`` classifies why, the message says what to do."""

    def __init__(self, kind: SourceKind, location: str, detail: str) -> None:
        self.kind = kind
        self.location = location
        self.detail = detail
        super().__init__(f"{location}: {detail}")


class DeliveryError(SidekiqWatchError):
    """A notification was not delivered.

    ``permanent`` means retrying cannot help (Slack said the request itself is wrong), so
    Lambda must not retry either; a transient failure is raised so Lambda's own retry takes over.
    """

    def __init__(
        self,
        channel: str,
        detail: str,
        *,
        permanent: bool,
        status: int | None = None,
        remote_error: str | None = None,
    ) -> None:
        self.channel = channel
        self.permanent = permanent
        self.status = status
        self.remote_error = remote_error
        super().__init__(f"{channel}: {detail}")
