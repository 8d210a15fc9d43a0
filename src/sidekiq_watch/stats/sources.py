"""Sources of Sidekiq figures: an HTTP stats endpoint or a local JSON file.

Each failure is classified (SourceError.kind) and told in words that point at the fix.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import requests

from ..errors import SourceError, TransportError
from ..http import DEFAULT_MAX_BODY_BYTES, HttpReply, RetryPolicy, new_session, redact_url, send
from ..settings import SourceScheme, StatsAuth, stats_scheme
from .failures import FailureSummary
from .shapes import parse_stats
from .snapshot import REDIS_FIGURES, Snapshot

log = logging.getLogger("sidekiq_watch")

# A GET is safe to repeat, but the poll must stay well inside its schedule: one retry at most.
STATS_RETRY = RetryPolicy(attempts=2, backoff_seconds=0.5, max_retry_after_seconds=5.0)


class StatsSource(Protocol):
    """Anything that can produce a Snapshot; ``location`` is safe to show (no credentials)."""

    location: str

    def read(self) -> Snapshot: ...


@runtime_checkable
class ReadsSinceLastPoll(Protocol):
    """A source that can count what happened since the previous poll (deaths), given its time."""

    def read_since(self, previous: float | None) -> Snapshot: ...


def failures_of(source: StatsSource, figures: Iterable[str]) -> dict[str, FailureSummary]:
    """Why jobs fail, from a source that can tell (Sidekiq's Redis); nothing from one that cannot."""
    explain = getattr(source, "failures", None)
    return explain(figures) if callable(explain) else {}


class FileStatsSource:
    """A JSON file: the embedded sample for ``make run`` and for tests."""

    def __init__(self, path: str) -> None:
        self.path = Path(unquote(urlsplit(path).path) if path.startswith("file:") else path)
        self.location = str(self.path)

    def read(self) -> Snapshot:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise SourceError(
                "not_found", self.location, "no such file" + _looks_like_a_url(str(self.path))
            ) from None
        except OSError as exc:
            raise SourceError("not_found", self.location, f"cannot read the file ({exc.strerror})") from None
        return parse_stats(_decode_json(raw, self.location), self.location)


class DataStatsSource:
    """Figures given in the setting itself as an RFC 2397 data: URL: samples that travel with no file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = "data: URL (SIDEKIQ_STATS_URL)"

    def read(self) -> Snapshot:
        header, comma, payload = self.url.removeprefix("data:").partition(",")
        if not comma:
            raise SourceError("not_json", self.location, "expected data:application/json,{...}")
        try:
            raw = (
                base64.b64decode(payload, validate=True)
                if header.endswith(";base64")
                else unquote_to_bytes(payload)
            )
        except ValueError:
            raise SourceError("not_json", self.location, "its base64 is not valid") from None
        return parse_stats(_decode_json(raw, self.location), self.location)


# What only Sidekiq's Redis tells: an HTTP target with a read-only redis_url takes these from it.
REDIS_ONLY = (*REDIS_FIGURES, "longest_running_job", "oldest_jobs")


class HttpStatsSource:
    """A JSON endpoint over HTTP(S), with optional Basic or token auth."""

    def __init__(
        self,
        url: str,
        auth: StatsAuth,
        *,
        timeout: float,
        session: requests.Session | None = None,
        policy: RetryPolicy = STATS_RETRY,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        deadline: float | None = None,
        detail: StatsSource | None = None,
    ) -> None:
        self.url = url
        self.deadline = deadline
        self.detail = detail  # a read-only Redis source: why jobs fail, and the figures of lost jobs
        self.auth = auth
        self.timeout = timeout
        self.session = session or new_session()
        self.policy = policy
        self.max_body_bytes = max_body_bytes
        self.location = f"GET {redact_url(url)}"

    def failures(self, figures: Iterable[str]) -> dict[str, FailureSummary]:
        return failures_of(self.detail, figures) if self.detail is not None else {}

    def _auth_kwargs(self) -> dict[str, object]:
        if self.auth.username is not None and self.auth.password is not None:
            return {"auth": (self.auth.username, self.auth.password.reveal())}
        if self.auth.token is not None:
            token = self.auth.token.reveal()
            if self.auth.token_header.lower() == "authorization":
                token = f"Bearer {token}"
            return {"headers": {self.auth.token_header: token, "Accept": "application/json"}}
        return {}

    def read_since(self, previous: float | None) -> Snapshot:
        """The endpoint's figures; with a read-only ``redis_url``, also those only Redis has (lost
        jobs, heartbeats, memory), best effort: an unreadable Redis leaves them absent, and says so."""
        snapshot = self.read()
        if self.detail is None:
            return snapshot
        try:
            if isinstance(self.detail, ReadsSinceLastPoll):
                found = self.detail.read_since(previous)
            else:
                found = self.detail.read()
        except SourceError as exc:
            log.warning(
                "%s: its redis_url cannot be read, figures only Redis has are left out: %s",
                self.location,
                exc,
            )
            return snapshot
        return replace(snapshot, **{name: getattr(found, name) for name in REDIS_ONLY})

    def read(self) -> Snapshot:
        kwargs = self._auth_kwargs()
        kwargs.setdefault("headers", {"Accept": "application/json"})
        try:
            reply = send(
                self.session,
                "GET",
                self.url,
                location=self.location,
                timeout=self.timeout,
                policy=self.policy,
                max_body_bytes=self.max_body_bytes,
                deadline=self.deadline,
                **kwargs,  # type: ignore[arg-type]
            )
        except TransportError as exc:
            raise SourceError(exc.kind, self.location, exc.detail) from None
        self._check(reply)
        return parse_stats(_decode_json(reply.body, self.location), self.location)

    def _check(self, reply: HttpReply) -> None:
        html = reply.content_type == "text/html" or reply.body.lstrip()[:1] == b"<"
        if reply.redirects and html:
            target = urlsplit(reply.url).path or "/"
            raise SourceError(
                "login_redirect",
                self.location,
                f"was redirected to {target} (HTML, not JSON): the stats endpoint needs credentials; "
                + credentials_advice(self.auth),
            )
        if reply.status in (401, 403):
            raise SourceError(
                "http_status",
                self.location,
                f"HTTP {reply.status}: access refused; " + credentials_advice(self.auth),
            )
        if not 200 <= reply.status < 300:
            raise SourceError("http_status", self.location, f"HTTP {reply.status}")
        if html:
            raise SourceError(
                "not_json",
                self.location,
                "answered with HTML, not JSON: is this the stats URL (e.g. …/sidekiq/stats), "
                "or a page behind a login?",
            )


def _looks_like_a_url(path: str) -> str:
    """A hint when a 'file path' is a URL without its scheme (app.example.com/sidekiq/stats)."""
    host = path.split("/", 1)[0]
    if re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?", host) and not host.endswith(".json"):
        return f"; did you mean https://{path}?"
    return ""


def credentials_advice(auth: StatsAuth) -> str:
    """What to check, named where the credentials came from: a variable or a document's target."""
    if auth.password is not None:
        return f"check {auth.password.variable} and the user name beside it"
    if auth.token is not None:
        return f"check {auth.token.variable}"
    return (
        "set SIDEKIQ_STATS_USERNAME/SIDEKIQ_STATS_PASSWORD or SIDEKIQ_STATS_TOKEN "
        "(or the target's username/password/token in the configuration document)"
    )


def _decode_json(raw: bytes, location: str) -> object:
    try:
        return json.loads(raw)
    except RecursionError:
        raise SourceError("not_json", location, "the answer's JSON is nested too deep to read") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        snippet = raw[:60].decode("utf-8", errors="replace")
        where = f" at byte {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise SourceError(
            "not_json", location, f"the answer is not JSON{where} (starts {snippet!r})"
        ) from None
    except ValueError:  # an integer of more digits than Python converts
        raise SourceError("bad_value", location, "a number in the answer has too many digits") from None


@dataclass(frozen=True)
class SourceRequest:
    """Everything a source may need for one target; each kind takes what it uses."""

    url: str
    auth: StatsAuth
    timeout: float
    session: requests.Session | None = None
    namespace: str | None = None
    deadline: float | None = None
    detail_url: str | None = None
    detail_auth: StatsAuth | None = None


def _http(request: SourceRequest) -> StatsSource:
    detail = None
    if request.detail_url:
        detail = make_source(
            request.detail_url,
            request.detail_auth or StatsAuth(),
            timeout=request.timeout,
            namespace=request.namespace,
        )
    return HttpStatsSource(
        request.url,
        request.auth,
        timeout=request.timeout,
        session=request.session,
        deadline=request.deadline,
        detail=detail,
    )


def _redis(request: SourceRequest) -> StatsSource:
    from .redis_source import RedisStatsSource  # redis-py is imported only by those who use it

    return RedisStatsSource(request.url, request.auth, timeout=request.timeout, namespace=request.namespace)


# Every kind of source, by the scheme settings.stats_scheme gives its location: adding a source is
# one factory here and one line in stats_scheme.
SOURCES: dict[SourceScheme, Callable[[SourceRequest], StatsSource]] = {
    "http": _http,
    "redis": _redis,
    "data": lambda request: DataStatsSource(request.url),
    "file": lambda request: FileStatsSource(request.url),
}


def make_source(
    url: str,
    auth: StatsAuth,
    *,
    timeout: float,
    session: requests.Session | None = None,
    namespace: str | None = None,
    deadline: float | None = None,
    detail_url: str | None = None,
    detail_auth: StatsAuth | None = None,
) -> StatsSource:
    """The source a stats location describes (a location no scheme claims is read as a file path)."""
    request = SourceRequest(url, auth, timeout, session, namespace, deadline, detail_url, detail_auth)
    factory = SOURCES[stats_scheme(url) or "file"]
    return factory(request)
