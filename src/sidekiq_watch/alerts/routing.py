"""Which receivers hear an alert: receivers by name, and a routing tree as in Alertmanager.

A route matches an alert's labels (target, rule, severity; globs); its child routes are tried in
order and the first that matches wins unless it says ``continue``; when no child matches, the
route's own receiver (or the nearest parent's) takes the alert.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..channels import KINDS, Channel, build_channel
from ..errors import ConfigError, kind_of

LABELS = ("target", "rule", "severity")
MAX_ROUTE_DEPTH = 5
ROUTE_FIELDS = {"receiver", "match", "continue", "routes"}


@dataclass(frozen=True)
class Route:
    receiver: str | None = None
    match: tuple[tuple[str, str], ...] = ()
    keep_matching: bool = False  # `continue`: later sibling routes are tried too
    routes: tuple[Route, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(fnmatch.fnmatchcase(labels.get(name, ""), glob) for name, glob in self.match)

    def receivers(self, labels: Mapping[str, str], inherited: str | None = None) -> tuple[str, ...]:
        """The receivers for these labels; empty when this route does not match them."""
        if not self.matches(labels):
            return ()
        own = self.receiver or inherited
        found: list[str] = []
        for child in self.routes:
            reached = child.receivers(labels, own)
            found += [name for name in reached if name not in found]
            if reached and not child.keep_matching:
                break
        if found:
            return tuple(found)
        return (own,) if own else ()

    def lines(self, indent: str = "") -> list[str]:
        """The tree in words, for `check`."""
        match = ", ".join(f"{name}={glob}" for name, glob in self.match) or "everything"
        then = " (continue)" if self.keep_matching else ""
        lines = [f"{indent}{match} -> {self.receiver or '(parent)'}{then}"]
        for child in self.routes:
            lines += child.lines(indent + "  ")
        return lines


def parse_receivers(raw: object, where: str = "receivers") -> dict[str, Channel]:
    """``[{name: ops-chat, slack: {...}}, …]``: each a channel of the one kind it names."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: expected a non-empty list of receivers")
    receivers: dict[str, Channel] = {}
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{at}: expected a mapping with name and one channel kind")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or not name.isprintable() or len(name) > 64:
            raise ConfigError(f"{at}.name: expected a short name such as ops-chat")
        if name in receivers:
            raise ConfigError(f"{at}.name: {name!r} is named twice")
        kinds = [key for key in item if key != "name"]
        if len(kinds) != 1 or kinds[0] not in KINDS:
            raise ConfigError(f"{at} ({name}): name exactly one channel kind of {', '.join(KINDS)}")
        options = item[kinds[0]]
        if not isinstance(options, Mapping):
            raise ConfigError(f"{at}.{kinds[0]}: expected a mapping of options, got {kind_of(options)}")
        receivers[name] = build_channel(name, {**options, "type": kinds[0]}, f"{at}.{kinds[0]}")
    return receivers


def parse_route(raw: object, names: set[str], where: str = "route", depth: int = 0) -> Route:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with receiver, match, continue, routes")
    if depth > MAX_ROUTE_DEPTH:
        raise ConfigError(f"{where}: routes nest at most {MAX_ROUTE_DEPTH} deep")
    unknown = set(raw) - ROUTE_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    receiver = raw.get("receiver")
    if receiver is not None and receiver not in names:
        known = ", ".join(sorted(names)) or "none"
        raise ConfigError(f"{where}.receiver: no receiver named {str(receiver)[:64]!r} (receivers: {known})")
    if depth == 0 and receiver is None:
        raise ConfigError(f"{where}.receiver: the top route needs a receiver (the default)")
    match = _matchers(raw.get("match", {}), f"{where}.match")
    if depth == 0 and match:
        raise ConfigError(f"{where}.match: the top route matches everything; match in its routes")
    keep = raw.get("continue", False)
    if not isinstance(keep, bool):
        raise ConfigError(f"{where}.continue: expected true or false, got {keep!r}")
    children = raw.get("routes", [])
    if not isinstance(children, list):
        raise ConfigError(f"{where}.routes: expected a list of routes")
    routes = tuple(
        parse_route(child, names, f"{where}.routes[{i}]", depth + 1) for i, child in enumerate(children)
    )
    return Route(receiver, match, keep, routes)


def _matchers(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {', '.join(LABELS)} to globs")
    found = []
    for name, glob in raw.items():
        if name not in LABELS:
            raise ConfigError(f"{where}: unknown label {str(name)[:40]!r} (labels: {', '.join(LABELS)})")
        if not isinstance(glob, str) or not glob:
            raise ConfigError(f"{where}.{name}: expected a glob such as 'critical' or 'retries*'")
        found.append((str(name), glob))
    return tuple(found)
