"""What every channel shares: the contract, option validation, and the resources they use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import requests

from ...errors import ConfigError, kind_of
from ...http import HttpReply, RetryPolicy, deliver, new_session
from ...secrets import REFERENCE_PREFIXES, Secret, validate_reference
from ..payload import BatchEvent

CHANNEL_RETRY = RetryPolicy(attempts=3, backoff_seconds=0.5, max_retry_after_seconds=10.0)


@dataclass
class Resources:
    """Created once per container and shared by every channel: one HTTP session, lazy AWS clients."""

    timeout: float = 10.0
    web_url: str | None = None
    session: requests.Session = field(default_factory=new_session)
    policy: RetryPolicy = CHANNEL_RETRY

    def post(self, url: str, *, location: str, **kwargs: Any) -> HttpReply:
        """POST a notification with this container's session, timeout and retry policy."""
        return deliver(
            self.session, "POST", url, location=location, timeout=self.timeout, policy=self.policy, **kwargs
        )

    @cached_property
    def ses(self) -> Any:
        import boto3

        return boto3.client("sesv2", config=_aws_config())

    @cached_property
    def sns(self) -> Any:
        import boto3

        return boto3.client("sns", config=_aws_config())


def _aws_config() -> Any:
    from botocore.config import Config

    return Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})


class Channel(Protocol):
    """Delivers one batch event somewhere; returns a short detail, raises DeliveryError."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def deliver(self, event: BatchEvent, resources: Resources) -> str: ...


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
            raise ConfigError(
                f"{self.where}.{key}: expected an e-mail address or a list of them, got {value!r}"
            )
        return list(items)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.data.get(key) or {}
        if not isinstance(value, Mapping) or not all(isinstance(v, str | int) for v in value.values()):
            raise ConfigError(f"{self.where}.{key}: expected a mapping of names to text")
        return {str(k): str(v) for k, v in value.items()}

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
