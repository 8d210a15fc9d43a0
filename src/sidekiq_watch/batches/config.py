"""Batch notification configuration: global channel defaults and routes with per-route overrides.

Like Sidekiq Pro's ``config.options[:notifications][...]`` with options passed to ``Batch#on``
merged over them: a route's options for a channel are merged over that channel's defaults
(the route wins; mappings such as ``headers`` merge key by key). The first route whose event,
description and bid patterns all match is used; without routes, every default channel hears
every event. Errors name the route, the channel and the field.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from ..channels import Channel, build_channel
from ..destinations import Destinations, RecipientPattern, parse_recipients, recipient_allowed
from ..errors import BatchRequestError, ConfigError, gather, kind_of
from ..secrets import REFERENCE_PREFIXES, resolve_reference
from .payload import EVENTS, BatchEvent

ROUTE_FIELDS = {"name", "events", "description", "bid", "channels"}
TOP_FIELDS = {"web_url", "channels", "routes"}


# What a batch may set by itself, per channel kind: who hears it and how it reads, never where it goes.
BATCH_SETTABLE: dict[str, frozenset[str]] = {
    "slack": frozenset({"channel", "username", "icon_emoji"}),
    "email": frozenset({"to", "cc", "bcc", "reply_to", "subject"}),
    "hipchat": frozenset({"room_id", "color", "notify"}),
    "campfire": frozenset({"room_id"}),
    "sns": frozenset({"subject"}),
}
# Options that say where a message goes: a batch may set one only to a value matching one of the
# channel's allow_destinations patterns (and never to a secret reference).
DESTINATIONS = frozenset({"webhook_url", "url", "topic_arn", "server", "address"})
# Who gets an e-mail: a batch may name only addresses matching the channel's allow_recipients.
RECIPIENTS = frozenset({"to", "cc", "bcc", "reply_to"})
MAX_BATCH_RECIPIENTS = 20
ALLOW_DESTINATIONS, ALLOW_RECIPIENTS = "allow_destinations", "allow_recipients"
CHANNEL_CONFIG_ONLY = frozenset({ALLOW_DESTINATIONS, ALLOW_RECIPIENTS})


@dataclass(frozen=True)
class Route:
    name: str
    channels: tuple[Channel, ...]
    events: tuple[str, ...] = EVENTS
    description: str | None = None
    bid: str | None = None
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # merged, per channel

    def matches(self, event: BatchEvent) -> bool:
        if event.event not in self.events:
            return False
        if self.description is not None and not fnmatch.fnmatchcase(
            event.status.description or "", self.description
        ):
            return False
        return self.bid is None or fnmatch.fnmatchcase(event.bid, self.bid)


@dataclass(frozen=True)
class BatchConfig:
    routes: tuple[Route, ...]
    web_url: str | None = None
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    allow_destinations: Mapping[str, Destinations] = field(default_factory=dict)
    allow_recipients: Mapping[str, tuple[RecipientPattern, ...]] = field(default_factory=dict)

    def route_for(self, event: BatchEvent) -> Route | None:
        return next((route for route in self.routes if route.matches(event)), None)

    def plan(self, event: BatchEvent) -> tuple[str | None, tuple[Channel, ...]]:
        """Which channels hear the event: the ones the batch names (its options merged over the
        matching route's, merged over the defaults), else the matching route's; raises
        BatchRequestError naming each channel and option a batch may not ask for."""
        route = self.route_for(event)
        if not event.status.notify:
            return (route.name, route.channels) if route else (None, ())
        problems: list[str] = []
        channels = []
        for name, options in event.status.notify.items():
            where = f"notify.{str(name)[:100]}"
            if name not in self.defaults:
                problems.append(f"{where}: no such channel in the configuration ({', '.join(self.defaults)})")
                continue
            if not isinstance(options, Mapping):
                problems.append(f"{where}: expected a mapping of options")
                continue
            base = (route.options.get(name) if route else None) or self.defaults[name]
            refused = [
                f"{where}.{str(key)[:100]}: {why}"
                for key, value in options.items()
                if (why := self._refusal(name, base, key, value))
            ]
            problems += refused
            if not refused:
                channel = gather(problems, partial(build_channel, name, merge(base, options), where))
                if channel is not None:
                    channels.append(channel)
        if problems:
            raise BatchRequestError(problems)
        return "the batch's own (notify)", tuple(channels)

    def _refusal(self, name: str, base: Mapping[str, Any], key: object, value: object) -> str | None:
        """Why a batch may not set option ``key`` of channel ``name`` to ``value``; None if it may."""
        refused = "a batch may not set this"
        if isinstance(value, str) and value.startswith(REFERENCE_PREFIXES):
            return refused  # a batch must not make the function read (and send) a parameter
        kind = str(base.get("type", name))
        if kind == "email" and key in RECIPIENTS:
            return self._recipients_refusal(name, value)
        if key in BATCH_SETTABLE.get(kind, frozenset()):
            return None
        destinations = self.allow_destinations.get(name)
        if (
            key in DESTINATIONS
            and isinstance(value, str)
            and destinations
            and destinations.allows(key, value)
        ):
            return None
        if key in DESTINATIONS and destinations:
            return f"not a destination the channel's {ALLOW_DESTINATIONS} lets a batch choose"
        return refused

    def _recipients_refusal(self, name: str, value: object) -> str | None:
        patterns = self.allow_recipients.get(name)
        if not patterns:
            return f"a batch may choose recipients only where the channel sets {ALLOW_RECIPIENTS}"
        addresses = [value] if isinstance(value, str) else value
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            return "expected an e-mail address or a list of them"
        if len(addresses) > MAX_BATCH_RECIPIENTS:
            return f"at most {MAX_BATCH_RECIPIENTS} addresses"
        if not all(recipient_allowed(address, patterns) for address in addresses):
            return f"every address must be a plain address matching the channel's {ALLOW_RECIPIENTS}"
        return None


def merge(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides win; nested mappings merge key by key."""
    merged = dict(defaults)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        # Never the value: a channel written as its webhook URL would print the secret.
        raise ConfigError(f"{where}: expected a mapping, got {kind_of(value)}")
    return value


def _route(raw: object, where: str, defaults: Mapping[str, Mapping[str, Any]]) -> Route:
    data = _mapping(raw, where)
    unknown = set(data) - ROUTE_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    name = str(data.get("name") or where)
    where = f"{where} ({name})" if data.get("name") else where
    events = data.get("events", list(EVENTS))
    events = [events] if isinstance(events, str) else events
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        raise ConfigError(
            f"{where}.events: expected complete, success and/or death, got {str(data.get('events'))[:100]!r}"
        )
    chosen = data.get("channels", list(defaults))
    if isinstance(chosen, list):
        chosen = {channel: {} for channel in chosen}
    chosen = _mapping(chosen, f"{where}.channels")
    if not chosen:
        raise ConfigError(f"{where}.channels: no channel to deliver to")
    channels = []
    options: dict[str, Mapping[str, Any]] = {}
    for channel_name, overrides in chosen.items():
        base = defaults.get(channel_name, {})
        merged = merge(base, _mapping(overrides, f"{where}.channels.{channel_name}"))
        options[str(channel_name)] = merged
        channels.append(build_channel(str(channel_name), merged, f"{where}.channels.{channel_name}"))
    patterns = {}
    for key in ("description", "bid"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}.{key}: expected a glob pattern such as 'Import*', got {value!r}")
        patterns[key] = value
    return Route(name, tuple(channels), tuple(events), patterns["description"], patterns["bid"], options)


def _patterns(options: Mapping[str, Any], option: str, where: str, problems: list[str]) -> list[str]:
    patterns = options.get(option, [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        problems.append(f"{where}.{option}: expected a list of patterns")
        return []
    return patterns


def _channel_defaults(
    channels: object, problems: list[str]
) -> tuple[dict[str, Mapping[str, Any]], dict[str, Destinations], dict[str, tuple[RecipientPattern, ...]]]:
    """Each channel's global defaults, and what a batch may choose: ``allow_destinations`` and
    ``allow_recipients``."""
    defaults: dict[str, Mapping[str, Any]] = {}
    destinations: dict[str, Destinations] = {}
    recipients: dict[str, tuple[RecipientPattern, ...]] = {}
    for name, options in _mapping(channels, "channels").items():
        checked = gather(problems, partial(_mapping, options, f"channels.{name}"))
        if checked is None:
            continue
        where = f"channels.{name}"
        allowed = _patterns(checked, ALLOW_DESTINATIONS, where, problems)
        if allowed and (
            parsed := gather(problems, partial(Destinations.parse, allowed, f"{where}.{ALLOW_DESTINATIONS}"))
        ):
            destinations[str(name)] = parsed
        addresses = _patterns(checked, ALLOW_RECIPIENTS, where, problems)
        if addresses and (
            chosen := gather(problems, partial(parse_recipients, addresses, f"{where}.{ALLOW_RECIPIENTS}"))
        ):
            recipients[str(name)] = chosen
        defaults[str(name)] = {k: v for k, v in checked.items() if k not in CHANNEL_CONFIG_ONLY}
    for name, options in defaults.items():  # validate every default on its own, even if no route uses it
        gather(problems, partial(build_channel, name, options, f"channels.{name}"))
    return defaults, destinations, recipients


def _routes(
    raw_routes: object, defaults: dict[str, Mapping[str, Any]], origin: str, problems: list[str]
) -> list[Route | None]:
    """The routes as written; without any, one default route to every channel."""
    if raw_routes is None:
        if not defaults and not problems:
            problems.append(f"{origin}: no channels configured")
        return [gather(problems, partial(_route, {"name": "default"}, "routes[default]", defaults))]
    if not isinstance(raw_routes, list) or not raw_routes:
        problems.append("routes: expected a non-empty list")
        return []
    return [
        gather(problems, partial(_route, raw, f"routes[{i}]", defaults)) for i, raw in enumerate(raw_routes)
    ]


def parse_batch_config(document: object, origin: str) -> BatchConfig:
    data = _mapping(document, origin)
    unknown = set(data) - TOP_FIELDS
    if unknown:
        raise ConfigError(f"{origin}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    problems: list[str] = []  # every channel's and route's problems, told at once
    defaults, destinations, recipients = _channel_defaults(data.get("channels"), problems)
    found = _routes(data.get("routes"), defaults, origin, problems)
    web_url = data.get("web_url")
    if web_url is not None and not isinstance(web_url, str):
        problems.append(f"web_url: expected a URL, got {kind_of(web_url)}")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))  # a default's problem once, not once per route
    routes = tuple(route for route in found if route is not None)
    return BatchConfig(routes, web_url, defaults, destinations, recipients)


def load_batch_config(reference: str | None) -> BatchConfig:
    """From BATCH_CONFIG: a file path, an ssm:/secretsmanager: reference, or the JSON document itself."""
    if reference is None:
        raise ConfigError(
            "BATCH_CONFIG: not set; name the batch notification configuration (file or ssm:/name)"
        )
    if reference.lstrip().startswith("{"):  # the document itself, as samples give it
        return _parsed(reference, "BATCH_CONFIG (inline)")
    if reference.startswith(REFERENCE_PREFIXES):
        text = resolve_reference("BATCH_CONFIG", reference)
    else:
        try:
            text = Path(reference).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"BATCH_CONFIG: cannot read {reference} ({exc.strerror})") from None
    return _parsed(text, reference)


@lru_cache(maxsize=4)
def _parsed(text: str, origin: str) -> BatchConfig:
    """Parsed once per distinct document: warm requests skip YAML and validation."""
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"{origin}: not valid YAML or JSON") from None
    return parse_batch_config(document, origin)
