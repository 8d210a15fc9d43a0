"""Where a batch may send a message, judged on the parsed value, never on the raw text.

A channel's ``allow_destinations`` patterns come in three forms: URLs (``https://*.example.com/hooks/*``),
SNS topic ARNs (``arn:aws:sns:eu-west-1:123456789012:batches-*``) and bare host names for SMTP
(``smtp.example.com``). A ``*`` never stretches across ``/ ? # @ :``: a URL matches only when its
scheme, host (exact, or below a ``*.`` suffix on a label boundary), port and normalised path
prefix do. ``allow_recipients`` does the same for e-mail addresses (local part glob, domain as a host).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .errors import ConfigError

DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters no destination has a use for, and each a known way to make parsers disagree.
_FORBIDDEN = re.compile(r"[\\\s\x00-\x1f\x7f]")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_ARN_PARTS = 6


def normal_host(text: str) -> str | None:
    """The host in the one form compared: lower case, IDNA-encoded; None when it is no host name
    or IP literal (a trailing dot, an empty label, a character DNS has no use for)."""
    host = text.lower()
    if host.startswith("[") and host.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return None
    try:
        ipaddress.IPv4Address(host)
        return host
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = host.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        return None
    return host


def is_internal(host: str) -> bool:
    """Loopback, private, link-local and other addresses no public hook lives at (or a name for them)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        # A host that is all digits and dots (or hex) but no dotted quad is an address in
        # disguise to the resolver (2130706433 is 127.0.0.1): treated as internal.
        return bool(re.fullmatch(r"[0-9.]+|0x[0-9a-f.x]+", host))
    return not address.is_global


@dataclass(frozen=True)
class HostPattern:
    """``hooks.example.com`` exactly, or ``*.example.com``: any host below it, never itself."""

    host: str
    below: bool

    @classmethod
    def parse(cls, text: str, where: str) -> HostPattern:
        below = text.startswith("*.")
        host = normal_host(text[2:] if below else text)
        if host is None or "*" in text[2 if below else 0 :]:
            raise ConfigError(
                f"{where}: {text!r} is no host pattern: write a host name, or *. and a domain "
                "(such as *.example.com)"
            )
        return cls(host, below)

    def matches(self, host: str) -> bool:
        if self.below:
            return host.endswith("." + self.host)
        return host == self.host

    @property
    def literal(self) -> bool:
        return not self.below


@dataclass(frozen=True)
class UrlPattern:
    scheme: str
    host: HostPattern
    port: int
    path: str
    prefix: bool  # the pattern's path ended with '*'

    @classmethod
    def parse(cls, text: str, where: str) -> UrlPattern:
        def refuse(why: str) -> ConfigError:
            return ConfigError(f"{where}: {text!r} {why}")

        if _FORBIDDEN.search(text):
            raise refuse("contains a backslash, a space or a control character")
        parts = urlsplit(text)
        if parts.scheme not in DEFAULT_PORTS:
            raise refuse("is no http:// or https:// pattern")
        if "@" in parts.netloc or parts.query or parts.fragment or "?" in text or "#" in text:
            raise refuse("may have no user info, query or fragment")
        hostport = parts.netloc
        port_text = None
        if re.search(r":\d*$", hostport) and not hostport.endswith("]"):
            hostport, port_text = hostport.rsplit(":", 1)
        if port_text is not None and not (port_text.isdigit() and 0 < int(port_text) < 65536):
            raise refuse("has no valid port")
        path = parts.path or "/"
        prefix = path.endswith("*")
        path = path[:-1] if prefix else path
        if "*" in path:
            raise refuse("may have '*' only at the start of the host (*.) and at the end of the path")
        if _normal_path(path) is None:
            raise refuse("has a path with '.', '..' or encoded '/' segments")
        return cls(
            parts.scheme,
            HostPattern.parse(hostport, f"{where}: {text!r}"),
            int(port_text) if port_text else DEFAULT_PORTS[parts.scheme],
            unquote(path),
            prefix,
        )

    def matches(self, url: ParsedUrl) -> bool:
        if (url.scheme, url.port) != (self.scheme, self.port) or not self.host.matches(url.host):
            return False
        return url.path.startswith(self.path) if self.prefix else url.path == self.path


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str
    host: str
    port: int
    path: str  # percent-decoded, with no '.' or '..' segment


def _normal_path(raw: str) -> str | None:
    """The decoded path, or None when decoding or dot segments would make it mean another path."""
    if re.search(r"%2f|%5c|%00", raw, re.IGNORECASE):
        return None
    path = unquote(raw)
    if any(segment in (".", "..") for segment in path.split("/")) or _FORBIDDEN.search(path):
        return None
    return path


def parse_destination_url(url: str) -> ParsedUrl | None:
    """The URL as a peer would read it, or None when it could be read two ways (user info,
    backslashes, fragments, dot segments, encoded slashes, a port that is not one)."""
    if _FORBIDDEN.search(url) or "#" in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return None
    host = normal_host(parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]")
    path = _normal_path(parts.path or "/")
    if host is None or path is None:
        return None
    return ParsedUrl(parts.scheme, host, port or DEFAULT_PORTS[parts.scheme], path)


@dataclass(frozen=True)
class ArnPattern:
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, where: str) -> ArnPattern:
        parts = tuple(text.split(":"))
        if len(parts) != _ARN_PARTS or parts[2] != "sns" or _FORBIDDEN.search(text):
            raise ConfigError(
                f"{where}: {text!r} is no SNS topic ARN pattern (arn:aws:sns:REGION:ACCOUNT:TOPIC)"
            )
        return cls(parts)

    def matches(self, arn: str) -> bool:
        parts = arn.split(":")
        return len(parts) == _ARN_PARTS and all(
            fnmatch.fnmatchcase(part, pattern) and "/" not in part
            for part, pattern in zip(parts, self.parts, strict=True)
        )


@dataclass(frozen=True)
class Destinations:
    """A channel's ``allow_destinations``, parsed once, with each form applied to its own options."""

    urls: tuple[UrlPattern, ...] = ()
    arns: tuple[ArnPattern, ...] = ()
    hosts: tuple[HostPattern, ...] = ()

    @classmethod
    def parse(cls, patterns: Iterable[str], where: str) -> Destinations:
        urls, arns, hosts = [], [], []
        for index, text in enumerate(patterns):
            at = f"{where}[{index}]"
            if "://" in text:
                urls.append(UrlPattern.parse(text, at))
            elif text.startswith("arn:"):
                arns.append(ArnPattern.parse(text, at))
            else:
                hosts.append(HostPattern.parse(text, at))
        return cls(tuple(urls), tuple(arns), tuple(hosts))

    def allows(self, key: str, value: str) -> bool:
        """Whether a batch may send to ``value`` as option ``key`` (url, webhook_url, server,
        topic_arn or address). An internal address only where a pattern names it literally."""
        if key == "topic_arn":
            return any(pattern.matches(value) for pattern in self.arns)
        if key == "address":
            host = normal_host(value)
            return host is not None and any(
                p.matches(host) and (p.literal or not is_internal(host)) for p in self.hosts
            )
        url = parse_destination_url(value)
        return url is not None and any(
            p.matches(url) and (p.host.literal or not is_internal(url.host)) for p in self.urls
        )


# A plain address, as a batch may give one: no display name, no comment, no list, no line break.
_ADDRESS = re.compile(r"^[^\s@<>,;:\"()\[\]\\]{1,64}@[^\s@<>,;:\"()\[\]\\]{1,253}$")


def is_plain_address(text: str) -> bool:
    return bool(_ADDRESS.match(text)) and normal_host(text.rsplit("@", 1)[1]) is not None


@dataclass(frozen=True)
class RecipientPattern:
    """``*@example.com``, ``ops+*@*.example.com``: the local part a glob, the domain a host pattern."""

    local: str
    domain: HostPattern

    @classmethod
    def parse(cls, text: str, where: str) -> RecipientPattern:
        local, at, domain = text.rpartition("@")
        if not at or not local or _FORBIDDEN.search(text) or "@" in local:
            raise ConfigError(f"{where}: {text!r} is no address pattern such as *@example.com")
        return cls(local, HostPattern.parse(domain, f"{where}: {text!r}"))

    def matches(self, address: str) -> bool:
        local, _, domain = address.rpartition("@")
        host = normal_host(domain)
        return (
            host is not None
            and fnmatch.fnmatchcase(local.lower(), self.local.lower())
            and self.domain.matches(host)
        )


def parse_recipients(patterns: Iterable[str], where: str) -> tuple[RecipientPattern, ...]:
    return tuple(RecipientPattern.parse(text, f"{where}[{i}]") for i, text in enumerate(patterns))


def recipient_allowed(address: str, patterns: Iterable[RecipientPattern]) -> bool:
    return is_plain_address(address) and any(pattern.matches(address) for pattern in patterns)
