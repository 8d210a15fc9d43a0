"""What every channel shares: the contract, option validation, and the resources they use."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from ..errors import ConfigError, kind_of
from ..http import HttpReply, RetryPolicy, deliver, new_session
from ..secrets import REFERENCE_PREFIXES, Secret, validate_reference
from .message import Message

CHANNEL_RETRY = RetryPolicy(attempts=3, backoff_seconds=0.5, max_retry_after_seconds=10.0)
# An AWS call's worst case with the client configuration below: 2 attempts of 2 s connect + 5 s
# read, and botocore's backoff between them. A call is not started with less time than this left.
AWS_CALL_WORST_SECONDS = 16.0


class AwsClients:
    """SES and SNS clients, made on first use (a configuration without them never imports boto3)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def ses(self) -> Any:
        with self._lock:  # boto3's default session is not safe for concurrent client creation
            import boto3

            return boto3.client("sesv2", config=_aws_config())

    @cached_property
    def sns(self) -> Any:
        with self._lock:
            import boto3

            return boto3.client("sns", config=_aws_config())


@dataclass(frozen=True)
class Resources:
    """Shared by every channel: one HTTP session and the AWS clients per container; ``deadline``
    and ``web_url`` per request (see ``for_request``), so nothing of one request leaks into the next."""

    timeout: float = 10.0
    web_url: str | None = None
    session: requests.Session = field(default_factory=new_session)
    policy: RetryPolicy = CHANNEL_RETRY
    aws: AwsClients = field(default_factory=AwsClients)
    deadline: float | None = None

    def for_request(self, *, deadline: float | None = None, web_url: str | None = None) -> Resources:
        """The same session and clients, with this request's deadline and (if not set) web link."""
        return replace(self, deadline=deadline, web_url=self.web_url or web_url)

    def time_left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def post(self, url: str, *, location: str, **kwargs: Any) -> HttpReply:
        """POST a notification with the session, timeout and retry policy, by the request's deadline."""
        return deliver(
            self.session,
            "POST",
            url,
            location=location,
            timeout=self.timeout,
            policy=self.policy,
            deadline=self.deadline,
            **kwargs,
        )

    @property
    def ses(self) -> Any:
        return self.aws.ses

    @property
    def sns(self) -> Any:
        return self.aws.sns


def _aws_config() -> Any:
    from botocore.config import Config

    return Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 2})


class Channel(Protocol):
    """Delivers one message somewhere; returns a short detail, raises DeliveryError."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def deliver(self, message: Message, resources: Resources) -> str: ...


class Options:
    """A channel's merged options, read with errors that name the channel and the field."""

    def __init__(self, data: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        self.data = data
        self.where = where
        unknown = set(data) - allowed - {"type"}
        if unknown:
            raise ConfigError(f"{where}: unknown option(s) {', '.join(sorted(map(str, unknown)))}")

    def text(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.data.get(key, default)
        if value is None or value == "":
            if required:
                raise ConfigError(f"{self.where}.{key}: required")
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            # Never the value: this may be a password or a token written the wrong way.
            raise ConfigError(f"{self.where}.{key}: expected text, got {kind_of(value)}")
        return str(value)

    def required_text(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None
        return value

    def secret(self, key: str, *, required: bool = False, url: bool = False) -> Secret | None:
        raw = self.text(key, required=required)
        if raw is None:
            return None
        variable = f"{self.where}.{key}"
        problem = validate_reference(variable, raw)
        if problem:
            raise ConfigError(problem)
        if url and not raw.startswith((*REFERENCE_PREFIXES, "https://", "http://")):
            raise ConfigError(f"{variable}: expected https://…, ssm:/… or secretsmanager:… (value not shown)")
        return Secret(variable, raw)

    def required_secret(self, key: str, *, url: bool = False) -> Secret:
        value = self.secret(key, required=True, url=url)
        assert value is not None
        return value

    def addresses(self, key: str, *, required: bool = False) -> list[str]:
        value = self.data.get(key)
        if value is None or value == []:
            if required:
                raise ConfigError(f"{self.where}.{key}: required")
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and "@" in i for i in items):
            raise ConfigError(f"{self.where}.{key}: expected an e-mail address or a list of them")
        if any(not i.isprintable() or "," in i or ";" in i for i in items):
            # One header line per address: a line break or a list separator would add recipients.
            raise ConfigError(
                f"{self.where}.{key}: an address contains a line break, a control character, ',' or ';'"
            )
        return list(items)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.data.get(key) or {}
        if not isinstance(value, Mapping) or not all(isinstance(v, str | int) for v in value.values()):
            raise ConfigError(f"{self.where}.{key}: expected a mapping of names to text")
        return {str(k): str(v) for k, v in value.items()}

    def service_url(self, key: str, default: str, *, base_only: bool = False) -> str:
        """A service's own URL (a region's, a self-hosted one's): http(s), a host, no user info, and
        with ``base_only`` no path; the error shows the default, never what was given."""
        url = (
            (self.text(key, default=default) or default).rstrip("/")
            if base_only
            else self.text(key) or default
        )
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
            raise ConfigError(f"{self.where}.{key}: expected a URL such as {default}")
        if base_only and parts.path:
            raise ConfigError(f"{self.where}.{key}: expected the base URL alone, such as {default}")
        return url

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where}.{key}: expected true or false, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.data.get(key, default)
        if value not in choices:
            raise ConfigError(f"{self.where}.{key}: expected one of {', '.join(choices)}, got {value!r}")
        return str(value)
