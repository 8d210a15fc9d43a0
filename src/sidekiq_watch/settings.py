"""Each function's typed settings, read once from the environment and validated up front.

Every problem is reported together, each naming its variable, so a user fixes a bad
configuration in one go. Secret-bearing variables may hold a reference instead of the value.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from .batches.auth import Admission, BatchAuth
from .errors import ConfigError
from .secrets import REFERENCE_PREFIXES, Secret, validate_reference
from .urls import redact_url

log = logging.getLogger("sidekiq_watch")

DEFAULT_HTTP_TIMEOUT_SECONDS = 10.0
DEFAULT_BATCH_MAX_BODY_BYTES = 256 * 1024

SourceScheme = Literal["http", "file", "redis", "data"]
MetricsDetail = Literal["none", "targets", "queues"]
METRICS_DETAILS: tuple[MetricsDetail, ...] = ("none", "targets", "queues")
_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def parse_duration(value: object, where: str) -> float:
    """Seconds from ``90``, ``"90"``, ``"45s"``, ``"30m"``, ``"1h"``, ``"1h30m"`` or ``"2d"``."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and any(match.groups()):
            seconds = (
                int(match["d"] or 0) * 86400
                + int(match["h"] or 0) * 3600
                + int(match["m"] or 0) * 60
                + int(match["s"] or 0)
            )
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


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_header_name(value: str) -> bool:
    """What an HTTP header name can never contain (a user who wrote 'X-Token: ' meant the name)."""
    return not any(c in value for c in " :\r\n")


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
            # Never the scheme as typed: a token pasted here (xoxb…:…) would be shown.
            problems.append(
                f"{name}: neither a URL nor a reference (value not shown: it is a secret); "
                f"use https://…, ssm:/name or secretsmanager:name"
            )
        else:
            problems.append(f"{name}: must be an http(s):// URL with a host {shown}")


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
    if not is_header_name(auth.token_header):
        problems.append(f"{names.token_header}: not a valid header name {auth.token_header!r}")
    return problems


# Each variable is declared once, as a field: its name, how it is read and validated, and what it
# means. Loading and docs/configuration.md's reference are both derived from these declarations.
Reader = Callable[[str | None, str, list[str]], Any]


def _as_text(raw: str | None, name: str, problems: list[str]) -> str | None:
    return raw


def _as_secret(raw: str | None, name: str, problems: list[str]) -> Secret | None:
    if raw is None:
        return None
    problem = validate_reference(name, raw)
    if problem:
        problems.append(problem)
    return Secret(name, raw)


def _as_secret_url(raw: str | None, name: str, problems: list[str]) -> Secret | None:
    before = len(problems)
    secret = _as_secret(raw, name, problems)
    if raw is not None and len(problems) == before and not raw.startswith(REFERENCE_PREFIXES):
        _check_url(name, raw, problems, secret=True)
    return secret


def _number(default: float, *, whole: bool, minimum: float) -> Reader:
    def read(raw: str | None, name: str, problems: list[str]) -> float:
        if raw is None:
            return default
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            problems.append(f"{name}: must be {'a whole number' if whole else 'a number'}, got {raw!r}")
            return default
        if not math.isfinite(value) or value < minimum:
            problems.append(f"{name}: must be at least {minimum:g}, got {raw!r}")
            return default
        return value

    return read


def _optional_whole(minimum: int) -> Reader:
    """A whole number, or None when unset (the bundled default applies)."""
    number = _number(minimum - 1, whole=True, minimum=minimum)

    def read(raw: str | None, name: str, problems: list[str]) -> int | None:
        value = number(raw, name, problems)
        return None if value < minimum else int(value)

    return read


def _as_duration(raw: str | None, name: str, problems: list[str]) -> float | None:
    if raw is None:
        return None
    try:
        return parse_duration(raw, name)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def _one_of(options: tuple[str, ...]) -> Reader:
    def read(raw: str | None, name: str, problems: list[str]) -> str:
        value = (raw or options[0]).lower()
        if value in options:
            return value
        problems.append(f"{name}: expected one of {', '.join(options)}, got {raw!r}")
        return options[0]

    return read


def _header_name(raw: str | None, name: str, problems: list[str]) -> str:
    value = raw or "Authorization"
    if not is_header_name(value):
        problems.append(f"{name}: not a valid header name {value!r}")
    return value


def _off_switch(raw: str | None, name: str, problems: list[str]) -> bool:
    if raw is not None and raw.lower() != "none":
        problems.append(f"{name}: expected 'none' (turns authentication off) or unset, got {raw!r}")
    return raw is not None and raw.lower() == "none"


def variable(name: str, read: Reader, doc: str) -> Any:
    return field(metadata={"variable": name, "read": read, "doc": doc})


@dataclass(frozen=True)
class SharedSettings:
    """What both functions read."""

    sidekiq_web_url: str | None = variable(
        "SIDEKIQ_WEB_URL",
        _as_text,
        "Link to this Sidekiq's Web UI (e.g. https://app.example.com/sidekiq), shown in messages.",
    )
    http_timeout_seconds: float = variable(
        "HTTP_TIMEOUT_SECONDS",
        _number(DEFAULT_HTTP_TIMEOUT_SECONDS, whole=False, minimum=0.1),
        "Timeout of every HTTP exchange, in seconds. Default: 10.",
    )

    def problems(self) -> list[str]:
        """What no single variable shows: values that contradict each other."""
        return []


@dataclass(frozen=True)
class PollerSettings(SharedSettings):
    """Everything the poller reads, validated; secrets stay unresolved until used."""

    stats_url: str | None = variable(
        "SIDEKIQ_STATS_URL",
        _as_text,
        "Where to read Sidekiq's figures: an http(s):// URL (hand-written endpoint, Sidekiq Web's /stats or "
        "/stats/queues), Sidekiq's Redis (redis:// or rediss://, db in the path), a local JSON file path, "
        "or the figures themselves as a data: URL (data:application/json,{...}: the samples use it, so "
        "they work wherever the function runs).",
    )
    stats_username: str | None = variable(
        "SIDEKIQ_STATS_USERNAME", _as_text, "HTTP Basic user name for the stats URL."
    )
    stats_password: Secret | None = variable(
        "SIDEKIQ_STATS_PASSWORD",
        _as_secret,
        "HTTP Basic password for the stats URL (secret; may be ssm:/… or secretsmanager:…).",
    )
    stats_token: Secret | None = variable(
        "SIDEKIQ_STATS_TOKEN",
        _as_secret,
        "Token sent to the stats URL, as 'Authorization: Bearer TOKEN' unless SIDEKIQ_STATS_TOKEN_HEADER "
        "names another header (secret; may be a reference).",
    )
    stats_token_header: str | None = variable(
        "SIDEKIQ_STATS_TOKEN_HEADER",
        _as_text,
        "Header that carries SIDEKIQ_STATS_TOKEN as is (e.g. X-Api-Key). Default: Authorization with "
        "'Bearer '.",
    )
    redis_namespace: str | None = variable(
        "SIDEKIQ_REDIS_NAMESPACE",
        _as_text,
        "The redis-namespace prefix Sidekiq's keys carry, if any (redis:// sources).",
    )
    source_name: str | None = variable(
        "SIDEKIQ_SOURCE_NAME",
        _as_text,
        "Name of this Sidekiq in messages and metrics. Default: the stats URL's host.",
    )
    slack_webhook_url: Secret | None = variable(
        "SLACK_WEBHOOK_URL",
        _as_secret_url,
        "Slack incoming webhook URL (secret; may be a reference). Unset: dry run, the message is printed.",
    )
    slack_channel: str | None = variable(
        "SLACK_CHANNEL", _as_text, "Channel override, e.g. #ops (only legacy webhooks honour it)."
    )
    slack_signing_secret: Secret | None = variable(
        "SLACK_SIGNING_SECRET",
        _as_secret,
        "Your Slack app's signing secret (secret; may be a reference). Set: alert messages carry Silence "
        "buttons, and SlackActionsFunction checks each click's signature with it. Unset: no buttons.",
    )
    slack_username: str | None = variable(
        "SLACK_USERNAME", _as_text, "Bot name override (only legacy webhooks honour it)."
    )
    slack_icon_emoji: str | None = variable(
        "SLACK_ICON_EMOJI", _as_text, "Icon override, e.g. :rotating_light: (only legacy webhooks honour it)."
    )
    retry_threshold: int | None = variable(
        "RETRY_THRESHOLD",
        _optional_whole(0),
        "Alert when retries are strictly greater than this. Default: 50 (from the bundled rules; ignored "
        "when SIDEKIQ_WATCH_CONFIG gives rules of its own).",
    )
    config_reference: str | None = variable(
        "SIDEKIQ_WATCH_CONFIG",
        _as_text,
        "The watch configuration document (targets and rules, YAML or JSON): a file path, ssm:/name, or "
        "the JSON document itself ({...}). Default: the bundled rules (retries > 50, processes < 1 or "
        "where heartbeats are read live_processes < 1, stalled > 0, scheduled_overdue_seconds > 300, "
        "redis_evicts > 0, redis_memory_percent warning 80 critical 95, redis_evicted_keys > 0, "
        "dead_added warning > 0) for SIDEKIQ_STATS_URL.",
    )
    state_table: str | None = variable(
        "STATE_TABLE", _as_text, "DynamoDB table holding alert state. Unset: a local file (see STATE_FILE)."
    )
    state_file: str | None = variable(
        "STATE_FILE",
        _as_text,
        "Local alert-state file when STATE_TABLE is unset. Default: $XDG_STATE_HOME/sidekiq-watch/state.json "
        "(~/.local/state/sidekiq-watch/state.json).",
    )
    repeat_interval: float | None = variable(
        "REPEAT_INTERVAL",
        _as_duration,
        "Remind about a rule still firing after this long (90, 30m, 1h). Default: 1h.",
    )
    source_failures_before_alert: int | None = variable(
        "SOURCE_FAILURES_BEFORE_ALERT",
        _optional_whole(1),
        "Failed polls in a row before 'cannot read Sidekiq stats' fires. Default: 2.",
    )
    publish_metrics: MetricsDetail = variable(
        "PUBLISH_METRICS",
        _one_of(METRICS_DETAILS),
        "Which figures become CloudWatch custom metrics ($0.30 each a month): none (default; every figure "
        "is still in each poll's log record, for Logs Insights and the dashboard), targets (10 per target) "
        "or queues (also one per queue, at most 50 a target).",
    )

    @property
    def stats_auth(self) -> StatsAuth:
        return StatsAuth(
            self.stats_username,
            self.stats_password,
            self.stats_token,
            self.stats_token_header or "Authorization",
        )

    @property
    def dry_run(self) -> bool:
        """Without a webhook the message is printed, so the tool is useful before Slack is wired."""
        return self.slack_webhook_url is None

    def problems(self) -> list[str]:
        return target_problems(self.stats_url, self.stats_auth, ENVIRONMENT_TARGET)


@dataclass(frozen=True)
class BatchSettings(SharedSettings):
    """Everything the batch notification function reads."""

    batch_config_reference: str | None = variable(
        "BATCH_CONFIG",
        _as_text,
        "Batch notification channels and routes (YAML or JSON): a file path, ssm:/name, or the JSON "
        "document itself ({...}).",
    )
    auth_username: str | None = variable(
        "BATCH_AUTH_USERNAME",
        _as_text,
        "HTTP Basic user name the batch webhook requires (with BATCH_AUTH_PASSWORD).",
    )
    auth_password: Secret | None = variable(
        "BATCH_AUTH_PASSWORD",
        _as_secret,
        "HTTP Basic password the batch webhook requires (secret; may be a reference).",
    )
    auth_token: Secret | None = variable(
        "BATCH_AUTH_TOKEN",
        _as_secret,
        "Shared token the batch webhook requires instead, as 'Authorization: Bearer TOKEN' unless "
        "BATCH_AUTH_TOKEN_HEADER names another header (secret; may be a reference).",
    )
    auth_token_header: str = variable(
        "BATCH_AUTH_TOKEN_HEADER",
        _header_name,
        "Header carrying BATCH_AUTH_TOKEN as is (e.g. X-Sidekiq-Watch-Token).",
    )
    auth_disabled: bool = variable(
        "BATCH_AUTH",
        _off_switch,
        "Set to none to accept batch requests without credentials (local trials only). Unset: requests "
        "are refused (503) until BATCH_AUTH_USERNAME/PASSWORD or BATCH_AUTH_TOKEN is set.",
    )
    delivery_table: str | None = variable(
        "DELIVERY_TABLE",
        _as_text,
        "DynamoDB table of batch delivery records (exactly once). Unset: a local file next to the alert "
        "state.",
    )
    max_body_bytes: int = variable(
        "BATCH_MAX_BODY_BYTES",
        _number(DEFAULT_BATCH_MAX_BODY_BYTES, whole=True, minimum=1024),
        "Largest batch payload accepted; larger ones get 413. Default: 262144.",
    )

    @property
    def admission(self) -> Admission:
        """What the intake checks a request against, as plain values."""
        auth = BatchAuth(
            self.auth_username,
            self.auth_password,
            self.auth_token,
            self.auth_token_header,
            self.auth_disabled,
        )
        return Admission(auth, self.max_body_bytes)

    def problems(self) -> list[str]:
        problems = []
        if (self.auth_username is None) != (self.auth_password is None):
            problems.append(
                "BATCH_AUTH_USERNAME and BATCH_AUTH_PASSWORD: set both for HTTP Basic, or neither"
            )
        if self.auth_token is not None and self.auth_password is not None:
            problems.append("BATCH_AUTH_TOKEN: set either a token or a username/password, not both")
        if self.auth_disabled and (self.auth_password is not None or self.auth_token is not None):
            problems.append(
                "BATCH_AUTH: 'none' turns authentication off, yet BATCH_AUTH_* credentials are set"
            )
        return problems


def _declared(settings: type[SharedSettings]) -> list[Field[Any]]:
    return list(fields(settings))


# The poller's own first, then those both read, then the batch function's.
VARIABLES: dict[str, str] = {
    f.metadata["variable"]: f.metadata["doc"]
    for settings in (PollerSettings, SharedSettings, BatchSettings)
    for f in _declared(settings)
    if settings is SharedSettings or f.name not in {shared.name for shared in _declared(SharedSettings)}
}
"""Every variable either function reads, with what it means (docs/configuration.md is made from it)."""

S = TypeVar("S", bound=SharedSettings)


def _read(settings: type[S], env: Mapping[str, str], problems: list[str]) -> S:
    values = {}
    for declared in _declared(settings):
        name = declared.metadata["variable"]
        raw = env.get(name, "").strip() or None
        values[declared.name] = declared.metadata["read"](raw, name, problems)
    loaded = settings(**values)
    problems.extend(loaded.problems())
    return loaded


def _in_reference_order(problems: list[str]) -> list[str]:
    """Each problem once, in the order the reference lists the variable it starts with."""
    order = {name: index for index, name in enumerate(VARIABLES)}
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda problem: order.get(problem.split(":", 1)[0].split()[0], len(order)))


def _load(settings: type[S], env: Mapping[str, str] | None) -> S:
    problems: list[str] = []
    loaded = _read(settings, os.environ if env is None else env, problems)
    if problems:
        raise ConfigError(_in_reference_order(problems))
    return loaded


def load_poller_settings(env: Mapping[str, str] | None = None) -> PollerSettings:
    """The poller's settings; raises ConfigError listing every problem found, each naming its variable."""
    return _load(PollerSettings, env)


def load_batch_settings(env: Mapping[str, str] | None = None) -> BatchSettings:
    """The batch function's settings; raises ConfigError listing every problem found."""
    return _load(BatchSettings, env)


def load_all_settings(env: Mapping[str, str] | None = None) -> tuple[PollerSettings, BatchSettings]:
    """Both, for commands that serve both (check, test-notify, listen): every problem in one error."""
    env = os.environ if env is None else env
    problems: list[str] = []
    poller = _read(PollerSettings, env, problems)
    batch = _read(BatchSettings, env, problems)
    if problems:
        raise ConfigError(_in_reference_order(problems))  # a shared variable's problem once
    return poller, batch


def default_state_file(env: dict[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/sidekiq-watch/state.json``, default ``~/.local/state/sidekiq-watch/state.json``."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or "/tmp") / ".local" / "state")  # noqa: S108
    return Path(base) / "sidekiq-watch" / "state.json"
