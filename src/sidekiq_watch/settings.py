"""The one typed settings object, read once from the environment and validated up front.

Every problem is reported together, each naming its variable, so a user fixes a bad
configuration in one go. Secret-bearing variables may hold a reference instead of the value.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from .errors import ConfigError
from .secrets import REFERENCE_PREFIXES, Secret, validate_reference
from .urls import redact_url

log = logging.getLogger("sidekiq_watch")

DEFAULT_HTTP_TIMEOUT_SECONDS = 10.0
DEFAULT_BATCH_MAX_BODY_BYTES = 256 * 1024

SourceScheme = Literal["http", "file", "redis", "data"]
MetricsDetail = Literal["none", "targets", "queues"]
METRICS_DETAILS: tuple[MetricsDetail, ...] = ("none", "targets", "queues")
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def parse_duration(value: object, where: str) -> float:
    """Seconds from ``90``, ``"90"``, ``"45s"``, ``"30m"``, ``"1h"`` or ``"1h30m"``."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and any(match.groups()):
            seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)
            if seconds > 0:
                return float(seconds)
    raise ConfigError(f"{where}: expected a duration such as 90, '30m' or '1h', got {value!r}")


@dataclass(frozen=True)
class StatsAuth:
    """How to authenticate to the stats endpoint: Basic, or a token in a header."""

    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    token_header: str = "Authorization"  # noqa: S105 - a header name, not a secret


@dataclass(frozen=True)
class Settings:
    """Everything the poller needs, validated; secrets stay unresolved until used."""

    stats_url: str | None = None
    stats_auth: StatsAuth = field(default_factory=StatsAuth)
    source_name: str | None = None
    slack_webhook_url: Secret | None = None
    slack_channel: str | None = None
    slack_username: str | None = None
    slack_icon_emoji: str | None = None
    retry_threshold: int | None = None
    http_timeout_seconds: float = DEFAULT_HTTP_TIMEOUT_SECONDS
    sidekiq_web_url: str | None = None
    redis_namespace: str | None = None
    config_reference: str | None = None
    state_table: str | None = None
    state_file: str | None = None
    repeat_interval: float | None = None
    source_failures_before_alert: int | None = None
    batch_config_reference: str | None = None
    batch_auth_username: str | None = None
    batch_auth_password: Secret | None = None
    batch_auth_token: Secret | None = None
    batch_auth_token_header: str = "Authorization"  # noqa: S105 - a header name
    batch_auth_disabled: bool = False
    publish_metrics: MetricsDetail = "none"
    delivery_table: str | None = None
    batch_max_body_bytes: int = DEFAULT_BATCH_MAX_BODY_BYTES

    @property
    def dry_run(self) -> bool:
        """Without a webhook the message is printed, so the tool is useful before Slack is wired."""
        return self.slack_webhook_url is None


# Every variable the settings read, with what it means: docs/configuration.md is generated from it.
VARIABLES: dict[str, str] = {
    "SIDEKIQ_STATS_URL": "Where to read Sidekiq's figures: an http(s):// URL (hand-written endpoint, "
    "Sidekiq Web's /stats or /stats/queues), Sidekiq's Redis (redis:// or rediss://, db in the path), "
    "a local JSON file path, or the figures themselves as a data: URL (data:application/json,{...}: the "
    "samples use it, so they work wherever the function runs).",
    "SIDEKIQ_STATS_USERNAME": "HTTP Basic user name for the stats URL.",
    "SIDEKIQ_STATS_PASSWORD": "HTTP Basic password for the stats URL (secret; may be ssm:/… or "
    "secretsmanager:…).",
    "SIDEKIQ_STATS_TOKEN": "Token sent to the stats URL, as 'Authorization: Bearer TOKEN' unless "
    "SIDEKIQ_STATS_TOKEN_HEADER names another header (secret; may be a reference).",
    "SIDEKIQ_STATS_TOKEN_HEADER": "Header that carries SIDEKIQ_STATS_TOKEN as is (e.g. X-Api-Key). "
    "Default: Authorization with 'Bearer '.",
    "SIDEKIQ_REDIS_NAMESPACE": "The redis-namespace prefix Sidekiq's keys carry, if any (redis:// sources).",
    "SIDEKIQ_SOURCE_NAME": "Name of this Sidekiq in messages and metrics. Default: the stats URL's host.",
    "SLACK_WEBHOOK_URL": "Slack incoming webhook URL (secret; may be a reference). Unset: dry run, "
    "the message is printed.",
    "SLACK_CHANNEL": "Channel override, e.g. #ops (only legacy webhooks honour it).",
    "SLACK_USERNAME": "Bot name override (only legacy webhooks honour it).",
    "SLACK_ICON_EMOJI": "Icon override, e.g. :rotating_light: (only legacy webhooks honour it).",
    "RETRY_THRESHOLD": "Alert when retries are strictly greater than this. Default: 50 (from the bundled "
    "rules; ignored when SIDEKIQ_WATCH_CONFIG gives rules of its own).",
    "SIDEKIQ_WEB_URL": "Link to this Sidekiq's Web UI (e.g. https://app.example.com/sidekiq), "
    "shown in messages.",
    "SIDEKIQ_WATCH_CONFIG": "The watch configuration document (targets and rules, YAML or JSON): a file "
    "path, ssm:/name, or the JSON document itself ({...}). Default: the bundled rules (retries > 50, "
    "processes < 1, stalled > 0) for SIDEKIQ_STATS_URL.",
    "STATE_TABLE": "DynamoDB table holding alert state. Unset: a local file (see STATE_FILE).",
    "STATE_FILE": "Local alert-state file when STATE_TABLE is unset. Default: "
    "$XDG_STATE_HOME/sidekiq-watch/state.json (~/.local/state/sidekiq-watch/state.json).",
    "REPEAT_INTERVAL": "Remind about a rule still firing after this long (90, 30m, 1h). Default: 1h.",
    "SOURCE_FAILURES_BEFORE_ALERT": "Failed polls in a row before 'cannot read Sidekiq stats' fires. "
    "Default: 2.",
    "HTTP_TIMEOUT_SECONDS": "Timeout of every HTTP exchange, in seconds. Default: 10.",
    "BATCH_CONFIG": "Batch notification channels and routes (YAML or JSON): a file path, ssm:/name, or the "
    "JSON document itself ({...}).",
    "BATCH_AUTH_USERNAME": "HTTP Basic user name the batch webhook requires (with BATCH_AUTH_PASSWORD).",
    "BATCH_AUTH_PASSWORD": "HTTP Basic password the batch webhook requires (secret; may be a reference).",
    "BATCH_AUTH_TOKEN": "Shared token the batch webhook requires instead, as 'Authorization: Bearer TOKEN' "
    "unless BATCH_AUTH_TOKEN_HEADER names another header (secret; may be a reference).",
    "BATCH_AUTH_TOKEN_HEADER": "Header carrying BATCH_AUTH_TOKEN as is (e.g. X-Sidekiq-Watch-Token).",
    "BATCH_AUTH": "Set to none to accept batch requests without credentials (local trials only). Unset: "
    "requests are refused (503) until BATCH_AUTH_USERNAME/PASSWORD or BATCH_AUTH_TOKEN is set.",
    "DELIVERY_TABLE": "DynamoDB table of batch delivery records (exactly once). Unset: a local file next "
    "to the alert state.",
    "PUBLISH_METRICS": "Which figures become CloudWatch custom metrics ($0.30 each a month): none (default; "
    "every figure is still in each poll's log record, for Logs Insights and the dashboard), targets (10 per "
    "target) or queues (also one per queue, at most 50 a target).",
    "BATCH_MAX_BODY_BYTES": "Largest batch payload accepted; larger ones get 413. Default: 262144.",
}


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def stats_scheme(url: str) -> SourceScheme | None:
    """Which kind of source a stats location is, or None if sidekiq-watch cannot read it."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("redis", "rediss"):
        return "redis"
    if scheme == "data":
        return "data"
    if scheme in ("", "file") or (len(scheme) == 1 and url[1:3] in (":\\", ":/")):
        return "file"
    return None


def _check_url(name: str, value: str, problems: list[str], *, secret: bool) -> None:
    shown = "(value not shown: it is a secret)" if secret else repr(redact_url(value))
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        problems.append(f"{name}: not a valid URL {shown}")
        return
    if parts.scheme == "http" and host and not is_loopback(host):
        log.warning("%s uses plain http:// to %s: what is sent travels unencrypted", name, host)
    if parts.scheme not in ("http", "https") or not host:
        if secret and ":" in value.split("/")[0]:
            problems.append(
                f"{name}: unknown reference scheme {value.split(':')[0]!r}; "
                f"use https://…, ssm:/name or secretsmanager:name"
            )
        else:
            problems.append(f"{name}: must be an http(s):// URL with a host {shown}")


def _secret(env: Mapping[str, str], name: str, problems: list[str], *, url: bool = False) -> Secret | None:
    raw = _text(env, name)
    if raw is None:
        return None
    problem = validate_reference(name, raw)
    if problem:
        problems.append(problem)
    elif url and not raw.startswith(REFERENCE_PREFIXES):
        _check_url(name, raw, problems, secret=True)
    return Secret(name, raw)


def _number(
    env: Mapping[str, str], name: str, default: float, problems: list[str], *, whole: bool, minimum: float
) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        problems.append(f"{name}: must be {kind}, got {raw!r}")
        return default
    if not math.isfinite(value) or value < minimum:
        problems.append(f"{name}: must be at least {minimum:g}, got {raw!r}")
        return default
    return value


def _duration(env: Mapping[str, str], name: str, problems: list[str]) -> float | None:
    raw = _text(env, name)
    if raw is None:
        return None
    try:
        return parse_duration(raw, name)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def _count(env: Mapping[str, str], name: str, problems: list[str]) -> int | None:
    raw = _text(env, name)
    if raw is None:
        return None
    value = _number(env, name, 0, problems, whole=True, minimum=1)
    return int(value) if value >= 1 else None


@dataclass(frozen=True)
class TargetFields:
    """What a target's fields are called where the user wrote them: variables, or a document's keys."""

    url: str
    username: str
    password: str
    token: str
    token_header: str

    @classmethod
    def in_document(cls, where: str) -> TargetFields:
        return cls(*(f"{where}.{key}" for key in ("url", "username", "password", "token", "token_header")))


ENVIRONMENT_TARGET = TargetFields(
    "SIDEKIQ_STATS_URL",
    "SIDEKIQ_STATS_USERNAME",
    "SIDEKIQ_STATS_PASSWORD",
    "SIDEKIQ_STATS_TOKEN",
    "SIDEKIQ_STATS_TOKEN_HEADER",
)


def target_problems(url: str | None, auth: StatsAuth, names: TargetFields) -> list[str]:
    """The one validation of a target, whether it came from the environment or a document."""
    problems: list[str] = []
    scheme = stats_scheme(url) if url is not None else None
    if url is not None:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return [f"{names.url}: not a valid URL {redact_url(url)!r}"]
        if scheme is None:
            problems.append(
                f"{names.url}: unsupported scheme {parts.scheme!r}; "
                "use http(s)://, redis(s)://, data: or a file path"
            )
        elif scheme == "http":
            _check_url(names.url, url, problems, secret=False)
        elif scheme == "redis" and not host:
            problems.append(f"{names.url}: {redact_url(url)!r} has no host")
        elif scheme == "redis" and parts.password:
            problems.append(
                f"{names.url}: put the Redis password in {names.password} (a secret reference), "
                "not in the URL"
            )
    # A password alone is right for Redis (the default user), also where no URL says which kind of
    # source it is for (`listen --redis-url`).
    password_alone_ok = auth.username is None and (scheme == "redis" or url is None)
    if (auth.username is None) != (auth.password is None) and not password_alone_ok:
        problems.append(f"{names.username} and {names.password}: set both for HTTP Basic, or neither")
    if auth.token is not None and auth.password is not None:
        problems.append(f"{names.token}: set either a token or a username/password, not both")
    if any(c in auth.token_header for c in " :\r\n"):
        problems.append(f"{names.token_header}: not a valid header name {auth.token_header!r}")
    return problems


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raises ConfigError listing every problem found."""
    env = os.environ if env is None else env
    problems: list[str] = []

    stats_url = _text(env, "SIDEKIQ_STATS_URL")
    username = _text(env, "SIDEKIQ_STATS_USERNAME")
    password = _secret(env, "SIDEKIQ_STATS_PASSWORD", problems)
    token = _secret(env, "SIDEKIQ_STATS_TOKEN", problems)
    token_header = _text(env, "SIDEKIQ_STATS_TOKEN_HEADER") or "Authorization"
    stats_auth = StatsAuth(username=username, password=password, token=token, token_header=token_header)
    problems += target_problems(stats_url, stats_auth, ENVIRONMENT_TARGET)

    threshold = _number(env, "RETRY_THRESHOLD", -1, problems, whole=True, minimum=0)
    timeout = _number(
        env, "HTTP_TIMEOUT_SECONDS", DEFAULT_HTTP_TIMEOUT_SECONDS, problems, whole=False, minimum=0.1
    )

    batch_username = _text(env, "BATCH_AUTH_USERNAME")
    batch_password = _secret(env, "BATCH_AUTH_PASSWORD", problems)
    batch_token = _secret(env, "BATCH_AUTH_TOKEN", problems)
    if (batch_username is None) != (batch_password is None):
        problems.append("BATCH_AUTH_USERNAME and BATCH_AUTH_PASSWORD: set both for HTTP Basic, or neither")
    if batch_token is not None and batch_password is not None:
        problems.append("BATCH_AUTH_TOKEN: set either a token or a username/password, not both")
    auth_switch = _text(env, "BATCH_AUTH")
    if auth_switch is not None and auth_switch.lower() != "none":
        problems.append(
            f"BATCH_AUTH: expected 'none' (turns authentication off) or unset, got {auth_switch!r}"
        )
    batch_auth_disabled = auth_switch is not None and auth_switch.lower() == "none"
    if batch_auth_disabled and (batch_password is not None or batch_token is not None):
        problems.append("BATCH_AUTH: 'none' turns authentication off, yet BATCH_AUTH_* credentials are set")
    detail = (_text(env, "PUBLISH_METRICS") or "none").lower()
    if detail not in METRICS_DETAILS:
        problems.append(f"PUBLISH_METRICS: expected one of {', '.join(METRICS_DETAILS)}, got {detail!r}")
        detail = "none"
    max_body = _number(
        env, "BATCH_MAX_BODY_BYTES", DEFAULT_BATCH_MAX_BODY_BYTES, problems, whole=True, minimum=1024
    )

    settings = Settings(
        stats_url=stats_url,
        stats_auth=stats_auth,
        source_name=_text(env, "SIDEKIQ_SOURCE_NAME"),
        slack_webhook_url=_secret(env, "SLACK_WEBHOOK_URL", problems, url=True),
        slack_channel=_text(env, "SLACK_CHANNEL"),
        slack_username=_text(env, "SLACK_USERNAME"),
        slack_icon_emoji=_text(env, "SLACK_ICON_EMOJI"),
        retry_threshold=None if threshold < 0 else int(threshold),
        http_timeout_seconds=float(timeout),
        sidekiq_web_url=_text(env, "SIDEKIQ_WEB_URL"),
        redis_namespace=_text(env, "SIDEKIQ_REDIS_NAMESPACE"),
        config_reference=_text(env, "SIDEKIQ_WATCH_CONFIG"),
        state_table=_text(env, "STATE_TABLE"),
        state_file=_text(env, "STATE_FILE"),
        repeat_interval=_duration(env, "REPEAT_INTERVAL", problems),
        source_failures_before_alert=_count(env, "SOURCE_FAILURES_BEFORE_ALERT", problems),
        batch_config_reference=_text(env, "BATCH_CONFIG"),
        batch_auth_username=batch_username,
        batch_auth_password=batch_password,
        batch_auth_token=batch_token,
        batch_auth_token_header=_text(env, "BATCH_AUTH_TOKEN_HEADER") or "Authorization",
        batch_auth_disabled=batch_auth_disabled,
        publish_metrics=detail,  # type: ignore[arg-type]  # checked against METRICS_DETAILS above
        delivery_table=_text(env, "DELIVERY_TABLE"),
        batch_max_body_bytes=int(max_body),
    )
    if problems:
        raise ConfigError(problems)
    return settings


def default_state_file(env: dict[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/sidekiq-watch/state.json``, default ``~/.local/state/sidekiq-watch/state.json``."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or "/tmp") / ".local" / "state")  # noqa: S108
    return Path(base) / "sidekiq-watch" / "state.json"
