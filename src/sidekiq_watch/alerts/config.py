"""The watch configuration: targets (Sidekiq apps) and their rules, from one YAML/JSON document.

The document is the bundled default, a file, or an SSM parameter (``SIDEKIQ_WATCH_CONFIG``);
without ``targets`` it watches the one app the simple environment variables describe. Every
error names where in the document it is: ``targets[1].rules[0]: comparator '>>' is not …``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..channels import Channel
from ..errors import ConfigError, gather, kind_of
from ..secrets import REFERENCE_PREFIXES, Secret, resolve_reference, validate_reference
from ..settings import (
    METRICS_DETAILS,
    MetricsDetail,
    PollerSettings,
    StatsAuth,
    TargetFields,
    parse_duration,
    stats_scheme,
    target_problems,
)
from ..urls import redact_url
from .history import DEFAULT_HISTORY_SIZE
from .routing import Route, parse_receivers, parse_route
from .rules import Rule, parse_rule
from .silences import Window, parse_windows

TARGET_FIELDS = {
    "namespace",
    "name",
    "url",
    "username",
    "password",
    "token",
    "token_header",
    "web_url",
    "slack_webhook_url",
    "slack_channel",
    "rules",
    "redis_url",
    "redis_username",
    "redis_password",
}
TOP_FIELDS = {
    "repeat_interval",
    "source_failures_before_alert",
    "publish_metrics",
    "rules",
    "targets",
    "receivers",
    "route",
    "heartbeat_url",
    "silence_windows",
}
# The receivers alerts had before routing, by these names: the webhook of SLACK_WEBHOOK_URL (or the
# dry run), and a target's own slack_webhook_url. Their alert state keeps its old keys.
DEFAULT_RECEIVER = "slack"


@dataclass(frozen=True)
class Target:
    """One Sidekiq app to watch."""

    name: str
    stats_url: str
    auth: StatsAuth
    rules: tuple[Rule, ...]
    web_url: str | None = None
    slack_webhook_url: Secret | None = None
    slack_channel: str | None = None
    namespace: str | None = None
    # An HTTP target's Sidekiq Redis (read-only), only to tell why jobs fail in alerts.
    redis_url: str | None = None
    redis_auth: StatsAuth = field(default_factory=StatsAuth)


@dataclass(frozen=True)
class WatchConfig:
    targets: tuple[Target, ...]
    repeat_interval: float = 3600.0
    source_failures_before_alert: int = 2
    history_size: int = DEFAULT_HISTORY_SIZE
    publish_metrics: MetricsDetail = "none"
    receivers: Mapping[str, Channel] = field(default_factory=dict)
    route: Route | None = None  # None: every alert to its target's Slack webhook, as before routing
    heartbeat_url: Secret | None = None  # a dead man's switch, called after every poll that completed
    silence_windows: tuple[Window, ...] = ()  # recurring mute windows (weekly maintenance)


def _positive_int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: expected a whole number of at least 1, got {value!r}")
    return value


def _metrics_detail(value: object, where: str) -> MetricsDetail:
    for detail in METRICS_DETAILS:
        if value == detail:
            return detail
    raise ConfigError(f"{where}: expected one of {', '.join(METRICS_DETAILS)}, got {value!r}")


def _rules(raw: object, where: str) -> tuple[Rule, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: expected a non-empty list of rules")
    problems: list[str] = []
    rules = [gather(problems, partial(parse_rule, spec, f"{where}[{i}]")) for i, spec in enumerate(raw)]
    if problems:
        raise ConfigError(problems)
    return tuple(rule for rule in rules if rule is not None)


def _optional_text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: expected text, got {kind_of(value)}")
    return value


def _secret(data: Mapping[str, Any], key: str, where: str) -> Secret | None:
    raw = _optional_text(data, key, where)
    if raw is None:
        return None
    problem = validate_reference(f"{where}.{key}", raw)
    if problem:
        raise ConfigError(problem)
    return Secret(f"{where}.{key}", raw)


def _target(raw: object, where: str, default_rules: tuple[Rule, ...], names: set[str]) -> Target:
    """One target; every problem it has is raised together."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with at least name and url")
    problems: list[str] = []
    unknown = set(raw) - TARGET_FIELDS
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    name = gather(problems, lambda: _optional_text(raw, "name", where))
    if not name:
        problems.append(f"{where}.name: required")
    elif name in names:
        problems.append(f"{where}.name: {name!r} is used by another target")
    else:
        names.add(name)
        where = f"{where} ({name})"
    url = gather(problems, lambda: _optional_text(raw, "url", where))
    if not url:
        problems.append(f"{where}.url: expected an http(s):// or redis(s):// URL or a file path")
    username = gather(problems, lambda: _optional_text(raw, "username", where))
    password = gather(problems, lambda: _secret(raw, "password", where))
    token = gather(problems, lambda: _secret(raw, "token", where))
    header = gather(problems, lambda: _optional_text(raw, "token_header", where)) or "Authorization"
    auth = StatsAuth(username, password, token, header)
    problems += target_problems(url, auth, TargetFields.in_document(where))  # the environment's rules too
    webhook = gather(problems, lambda: _secret(raw, "slack_webhook_url", where))
    if webhook is not None and not webhook.raw.startswith((*REFERENCE_PREFIXES, "http://", "https://")):
        problems.append(f"{where}.slack_webhook_url: expected https://…, ssm:/… or secretsmanager:…")
    rules = (
        gather(problems, lambda: _rules(raw["rules"], f"{where}.rules")) if "rules" in raw else default_rules
    )
    texts = {key: gather(problems, partial(_optional_text, raw, key, where)) for key in OPTIONAL_TEXTS}
    redis_url = texts["redis_url"]
    redis_password = gather(problems, partial(_secret, raw, "redis_password", where))
    redis_auth = StatsAuth(texts["redis_username"], redis_password)
    if redis_url is not None and stats_scheme(redis_url) != "redis":
        problems.append(f"{where}.redis_url: expected redis:// or rediss://, got {redact_url(redis_url)!r}")
    elif redis_url is not None:  # the same rules as any Redis target's
        at = f"{where}.redis_"
        fields = TargetFields(f"{at}url", f"{at}username", f"{at}password", f"{at}token", f"{at}token_header")
        problems += target_problems(redis_url, redis_auth, fields)
    if problems:
        raise ConfigError(problems)
    assert name is not None
    assert url is not None
    assert rules is not None
    return Target(
        name=name,
        stats_url=url,
        auth=auth,
        rules=rules,
        web_url=texts["web_url"],
        slack_webhook_url=webhook,
        slack_channel=texts["slack_channel"],
        namespace=texts["namespace"],
        redis_url=redis_url,
        redis_auth=redis_auth,
    )


BUNDLED_ORIGIN = "the bundled default configuration"
OPTIONAL_TEXTS = ("web_url", "slack_channel", "namespace", "redis_url", "redis_username")


def read_document(reference: str | None) -> tuple[object, str]:
    """The raw document and where it came from: the bundled default, a file, or an SSM parameter."""
    return parse_document(*read_text(reference))


def read_text(reference: str | None) -> tuple[str, str]:
    """The document's text and where it came from (the bundled default when ``reference`` is None)."""
    if reference is None:
        text = (Path(__file__).parent / "default_config.json").read_text(encoding="utf-8")
        return text, BUNDLED_ORIGIN
    if reference.lstrip().startswith("{"):  # the document itself
        return reference, "SIDEKIQ_WATCH_CONFIG (inline)"
    if reference.startswith(REFERENCE_PREFIXES):
        return resolve_reference("SIDEKIQ_WATCH_CONFIG", reference), reference
    try:
        return Path(reference).read_text(encoding="utf-8"), reference
    except OSError as exc:
        raise ConfigError(f"SIDEKIQ_WATCH_CONFIG: cannot read {reference} ({exc.strerror})") from None


def parse_document(text: str, origin: str) -> tuple[object, str]:
    """JSON by the JSON parser: the bundled default never imports a YAML parser, and a generated
    document of 1,000 targets parses in milliseconds, not the pure-Python YAML parser's 0.2 s of CPU
    (seconds at a small Lambda's share). Anything else as YAML, of which JSON is a subset."""
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text), origin
        except ValueError:
            pass  # YAML's flow style, {a: 1}, or not a document at all: YAML says which
    import yaml

    try:
        return yaml.safe_load(text), origin
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{origin}: not valid YAML or JSON{at}") from None


def current_watch_config(settings: PollerSettings) -> WatchConfig:
    """The document read again (so a changed SSM parameter is seen at the next poll), parsed and
    validated only when its text changed: a warm poll of 1,000 targets skips both."""
    return _validated(settings, *read_text(settings.config_reference))


@lru_cache(maxsize=4)
def _validated(settings: PollerSettings, text: str, origin: str) -> WatchConfig:
    return load_watch_config(settings, *parse_document(text, origin))


def load_watch_config(
    settings: PollerSettings, document: object | None = None, origin: str = "configuration"
) -> WatchConfig:
    """Validate the document and apply the environment's shorthand to what it leaves unsaid."""
    if document is None:
        document, origin = read_document(settings.config_reference)
    if not isinstance(document, Mapping):
        raise ConfigError(f"{origin}: expected a mapping at the top")
    unknown = set(document) - TOP_FIELDS
    if unknown:
        raise ConfigError(f"{origin}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    bundled = settings.config_reference is None

    def pick(key: str, from_env: Any, parse: Any, fallback: Any) -> Any:
        """A document of one's own wins, then the environment's shorthand, then the bundled default."""
        if key in document and not bundled:
            return parse(document[key], key)
        if from_env is not None:
            return from_env
        return parse(document[key], key) if key in document else fallback

    if "rules" in document and not bundled:
        default_rules = _rules(document["rules"], "rules")
    else:
        bundled_rules = tuple(
            replace(rule, bundled=True)
            for rule in _rules(read_document(None)[0]["rules"], "rules")  # type: ignore[index]
        )
        threshold = settings.retry_threshold
        default_rules = tuple(
            replace(rule, critical=float(threshold))
            if rule.figure == "retries" and threshold is not None
            else rule
            for rule in bundled_rules
        )
    repeat = pick("repeat_interval", settings.repeat_interval, parse_duration, 3600.0)
    failures = pick("source_failures_before_alert", settings.source_failures_before_alert, _positive_int, 2)
    metrics_detail = pick("publish_metrics", None, _metrics_detail, settings.publish_metrics)
    raw_targets = document.get("targets")
    if raw_targets is None:
        targets: tuple[Target, ...] = (env_target(settings, default_rules),)
    else:
        if not isinstance(raw_targets, list) or not raw_targets:
            raise ConfigError("targets: expected a non-empty list")
        names: set[str] = set()
        problems: list[str] = []
        found = [
            gather(problems, partial(_target, raw, f"targets[{i}]", default_rules, names))
            for i, raw in enumerate(raw_targets)
        ]
        if problems:
            raise ConfigError(problems)
        targets = tuple(target for target in found if target is not None)
    receivers = parse_receivers(document["receivers"]) if "receivers" in document else {}
    route = None
    if "route" in document:
        implicit = {DEFAULT_RECEIVER} | {f"slack:{t.name}" for t in targets if t.slack_webhook_url}
        route = with_target_webhooks(parse_route(document["route"], set(receivers) | implicit), targets)
    elif receivers:
        raise ConfigError("route: receivers are named but no route says which alerts they hear")
    heartbeat = _heartbeat(document.get("heartbeat_url"))
    return WatchConfig(
        targets,
        repeat_interval=repeat,
        source_failures_before_alert=failures,
        publish_metrics=metrics_detail,
        receivers=receivers,
        route=route,
        heartbeat_url=heartbeat,
        silence_windows=parse_windows(document["silence_windows"]) if "silence_windows" in document else (),
    )


def _heartbeat(raw: object) -> Secret | None:
    """An http(s) URL (often a secret itself: whoever has it can fake the watchdog's heartbeat)."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ConfigError(f"heartbeat_url: expected a URL or a secret reference, got {kind_of(raw)}")
    problem = validate_reference("heartbeat_url", raw)
    if problem:
        raise ConfigError(problem)
    if not raw.startswith((*REFERENCE_PREFIXES, "https://", "http://")):
        raise ConfigError("heartbeat_url: expected https://…, ssm:/… or secretsmanager:… (value not shown)")
    return Secret("heartbeat_url", raw)


def with_target_webhooks(route: Route, targets: tuple[Target, ...]) -> Route:
    """A target's own slack_webhook_url keeps taking its alerts: a first route to its own receiver."""
    own = tuple(
        Route(f"slack:{t.name}", (("target", fnmatch_literal(t.name)),))
        for t in targets
        if t.slack_webhook_url
    )
    return replace(route, routes=own + route.routes) if own else route


def fnmatch_literal(text: str) -> str:
    """A glob matching exactly ``text`` (a target name may hold ``*``, ``?`` or ``[``)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def env_target(settings: PollerSettings, rules: tuple[Rule, ...]) -> Target:
    """The one target the simple environment variables describe."""
    if not settings.stats_url:
        raise ConfigError(
            "SIDEKIQ_STATS_URL: not set; give the stats endpoint's URL or a JSON file path "
            "(or list targets in the SIDEKIQ_WATCH_CONFIG document)"
        )
    parts = urlsplit(settings.stats_url)
    name = settings.source_name or parts.hostname or Path(settings.stats_url).name
    return Target(
        name=name,
        stats_url=settings.stats_url,
        auth=settings.stats_auth,
        rules=rules,
        web_url=settings.sidekiq_web_url,
        namespace=settings.redis_namespace,
    )
