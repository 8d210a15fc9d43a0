"""The one place HTTP exchanges happen: timeouts, bounded retries honouring Retry-After, a body cap.

Errors from here never contain the URL: callers pass a ``location`` label (already redacted)
that is used in every message instead.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import http.cookiejar
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from . import __version__
from .deadline import Cut, cut_at, shut_down
from .errors import DeliveryError, TransportError, TransportKind, causes
from .urls import redact_url

__all__ = ["HttpReply", "RetryPolicy", "deliver", "new_session", "redact_url", "send"]

USER_AGENT = f"sidekiq-watch/{__version__}"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; the worst case stays well inside a Lambda timeout."""

    attempts: int = 3
    backoff_seconds: float = 0.5
    max_retry_after_seconds: float = 20.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff, so many pollers do not retry in step."""
        return random.uniform(0, self.backoff_seconds * (2 ** (attempt - 1)))  # noqa: S311


NO_RETRY = RetryPolicy(attempts=1)


@dataclass(frozen=True)
class HttpReply:
    """What came back, read fully (up to the cap) so the connection returns to the pool."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    redirects: tuple[str, ...] = field(default=())

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", errors="replace").strip()


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Nothing a peer sets is kept: a Sidekiq Web session cookie must never reach Slack or another
    target, nor outlive the exchange that received it."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


@dataclass
class _Exchange:
    """One exchange in progress: its sockets, the last status line read, whether the deadline cut it."""

    sockets: list[socket.socket] = field(default_factory=list)
    status: int | None = None
    cut: Cut = field(default_factory=Cut)

    @property
    def expired(self) -> bool:
        return self.cut.expired

    def shut_down(self) -> None:
        for sock in list(self.sockets):
            shut_down(sock)


_local = threading.local()  # .exchange: the calling thread's _Exchange (requests runs in the caller)


def _current() -> _Exchange | None:
    exchange: _Exchange | None = getattr(_local, "exchange", None)
    return exchange


class _StatusRecordingResponse(http.client.HTTPResponse):
    """Remembers each status line as it is read: a 2xx cut off in its headers was still delivered."""

    def _read_status(self) -> tuple[str, int, str]:
        version, status, reason = super()._read_status()  # type: ignore[misc]
        exchange = _current()
        if exchange is not None:
            exchange.status = status
        return version, status, reason


class _RegistersItsSocket:
    """Mixed into both connection classes (first, so ``super()`` is each one's own urllib3 class):
    the socket in use joins this thread's exchange before the status line is read."""

    sock: socket.socket | None

    def getresponse(self) -> Any:
        exchange = _current()
        if exchange is not None and self.sock is not None:
            exchange.sockets.append(self.sock)
            if exchange.expired:  # the deadline passed while the request was being sent
                shut_down(self.sock)
        return super().getresponse()  # type: ignore[misc]


class _WatchedHTTPConnection(_RegistersItsSocket, urllib3.connection.HTTPConnection):
    response_class = _StatusRecordingResponse


class _WatchedHTTPSConnection(_RegistersItsSocket, urllib3.connection.HTTPSConnection):
    response_class = _StatusRecordingResponse


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """Connections whose exchange the deadline can cut wherever it is, status line and headers included."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


# A read's own timeout, where one applies, is the better-worded end: the cut comes just after it.
CUT_GRACE_SECONDS = 0.2


@contextlib.contextmanager
def _deadline_watch(deadline: float) -> Iterator[_Exchange]:
    """This thread's exchange, its sockets shut down at ``deadline`` (see deadline.py)."""
    exchange = _Exchange()
    previous, _local.exchange = _current(), exchange
    try:
        with cut_at(deadline + CUT_GRACE_SECONDS, exchange.shut_down) as exchange.cut:
            yield exchange
    finally:
        _local.exchange = previous


def new_session() -> requests.Session:
    """A pooled session; one per container and host family keeps TLS connections warm."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.cookies.set_policy(_NoCookies())
    # Targets are polled concurrently, often several on one host: keep that many connections warm.
    adapter = _DeadlineAdapter(pool_connections=32, pool_maxsize=256)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _classify(exc: requests.RequestException) -> tuple[TransportKind, str]:
    """What went wrong, from the exception types involved (requests wraps urllib3 wraps socket)."""
    chain = causes(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timeout", "timed out while connecting"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout", "timed out waiting for an answer"
    if isinstance(exc, requests.exceptions.SSLError):
        return "ssl", "TLS handshake failed (certificate or protocol problem)"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "invalid_url", "the URL is not valid"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if any(isinstance(c, socket.gaierror | urllib3.exceptions.NameResolutionError) for c in chain):
            return "dns", "the host name could not be resolved (DNS)"
        if any(isinstance(c, ConnectionRefusedError) for c in chain):
            return "connect", "could not connect (connection refused)"
        if any(isinstance(c, urllib3.exceptions.NewConnectionError) for c in chain):
            return "connect", "could not connect"
        return "reset", "the connection was closed or reset before a full answer arrived"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "reset", "the answer was cut off mid-body"
    return "reset", f"the exchange failed ({type(exc).__name__})"


TOO_SLOW = "timed out: the whole answer did not arrive within the time limit"
# A 2xx status line decides that a notification was delivered; of its body only this much is read.
DELIVERED_BODY_BYTES = 4096
# A retry starts only if this much time is left for it after its wait.
MIN_ATTEMPT_SECONDS = 1.0
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that carry no credential: the only ones kept when a redirect leaves the origin.
SAFE_HEADERS = frozenset({"accept", "content-type", "user-agent"})


def _set_read_timeout(response: requests.Response, seconds: float) -> None:
    """Each socket read waits at most until the deadline, so a trickling peer cannot stretch it."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(0.01, seconds))


def _read_body(
    response: requests.Response, max_bytes: int, deadline: float, location: str, *, complete: bool
) -> bytes:
    """The body, read one socket read at a time with the deadline checked between reads.

    ``complete=False`` (a 2xx to a notification) reads at most DELIVERED_BODY_BYTES and keeps
    whatever arrived before a cut, a stall or the deadline: the status already said "delivered".
    """
    limit = max_bytes if complete else DELIVERED_BODY_BYTES
    declared = response.headers.get("Content-Length")
    if complete and declared and declared.isdigit() and int(declared) > max_bytes:
        raise TransportError(
            "too_large", location, f"the answer is {int(declared)} bytes, over the {max_bytes}-byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        left = deadline - time.monotonic()
        if left <= 0:
            if not complete:
                break
            raise TransportError("timeout", location, "the answer arrived too slowly (total time limit)")
        _set_read_timeout(response, left)
        try:
            chunk = response.raw.read1(65536, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if not complete:
                break
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError | socket.timeout):
                raise TransportError(
                    "timeout", location, "the answer arrived too slowly (total time limit)"
                ) from None
            raise TransportError("reset", location, "the answer was cut off mid-body") from None
        if not chunk:
            break
        size += len(chunk)
        chunks.append(chunk)
    if size > limit:
        if complete:
            raise TransportError("too_large", location, f"the answer exceeds the {max_bytes}-byte limit")
        return b"".join(chunks)[:limit]
    return b"".join(chunks)


def _same_origin(first: str, second: str) -> bool:
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _without_credentials(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What may be sent to another origin: no auth, no header but the harmless ones, no body."""
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() in SAFE_HEADERS}
    return {k: v for k, v in kwargs.items() if k not in ("auth", "headers", "data", "json")} | {
        "headers": headers
    }


def _exchange(
    session: requests.Session,
    method: str,
    url: str,
    *,
    location: str,
    deadline: float,
    max_body_bytes: int,
    follow_redirects: bool,
    complete_body: Callable[[int], bool],
    **kwargs: Any,
) -> HttpReply:
    """One attempt, following redirects by hand: credentials stay with the origin they were meant for."""
    redirects: list[str] = []
    current_url, current_method, current = url, method, kwargs
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransportError("timeout", location, "no time was left for an answer")
        with _deadline_watch(deadline) as exchange:
            try:
                with session.request(
                    current_method, current_url, timeout=left, stream=True, allow_redirects=False, **current
                ) as response:
                    status = response.status_code
                    target = response.headers.get("Location")
                    redirect = follow_redirects and status in REDIRECT_STATUSES and target
                    if not redirect or len(redirects) >= MAX_REDIRECTS:
                        complete = complete_body(status)
                        body = _read_body(response, max_body_bytes, deadline, location, complete=complete)
                        if exchange.expired and complete:
                            raise TransportError("timeout", location, TOO_SLOW)
                        return HttpReply(status, dict(response.headers), body, current_url, tuple(redirects))
            except (requests.RequestException, TransportError, OSError, http.client.HTTPException):
                if not exchange.expired:
                    raise
                if exchange.status is not None and not complete_body(exchange.status):
                    # The status line said delivered before the deadline cut the headers short.
                    return HttpReply(exchange.status, {}, b"", current_url, tuple(redirects))
                raise TransportError("timeout", location, TOO_SLOW) from None
        redirects.append(str(target))
        next_url = urljoin(current_url, str(target))
        if not _same_origin(url, next_url):
            current = _without_credentials(current)
        if status == 303 or (status in (301, 302) and current_method != "GET"):
            current_method = "GET"
        current_url = next_url


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    location: str,
    timeout: float,
    policy: RetryPolicy = NO_RETRY,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    sleep: Callable[[float], None] | None = None,
    deadline: float | None = None,
    follow_redirects: bool = True,
    complete_body: Callable[[int], bool] = lambda status: True,
    **kwargs: Any,
) -> HttpReply:
    """One HTTP exchange with bounded retries on 429/5xx and network failures.

    Returns the last reply (whatever its status) once retries are spent or the status is
    final; raises TransportError when no reply came at all. Every attempt ends within
    ``timeout`` of its start, wall clock; all attempts and waits end by ``deadline`` (a
    ``time.monotonic()`` value: what the invocation has left). A wait that would not leave
    time for another attempt, or a Retry-After longer than the policy allows, ends the retries.
    """
    pause = sleep or time.sleep
    final = float("inf") if deadline is None else deadline
    attempt = 0

    def fits(wait: float) -> bool:
        return time.monotonic() + wait + MIN_ATTEMPT_SECONDS <= final

    while True:
        attempt += 1
        started = time.monotonic()
        if started >= final:
            raise TransportError("timeout", location, "no time was left in this invocation for an attempt")
        try:
            reply = _exchange(
                session,
                method,
                url,
                location=location,
                deadline=min(started + timeout, final),
                max_body_bytes=max_body_bytes,
                follow_redirects=follow_redirects,
                complete_body=complete_body,
                **kwargs,
            )
        except TransportError as exc:
            wait = policy.backoff(attempt)
            if exc.kind == "too_large" or attempt >= policy.attempts or not fits(wait):
                raise
            pause(wait)
            continue
        except requests.RequestException as exc:
            kind, detail = _classify(exc)
            wait = policy.backoff(attempt)
            if kind == "invalid_url" or attempt >= policy.attempts or not fits(wait):
                raise TransportError(kind, location, f"{detail} (after {attempt} attempt(s))") from None
            pause(wait)
            continue
        if reply.status not in RETRYABLE_STATUSES or attempt >= policy.attempts:
            return reply
        asked = parse_retry_after(reply.headers.get("Retry-After"))
        wait = policy.backoff(attempt) if asked is None else asked
        if wait > policy.max_retry_after_seconds or not fits(wait):
            return reply
        pause(wait)


PEER_EXCERPT_CHARS = 200
MASK = "***"
# Parts of a URL shorter than this are words (hooks, services, v2), not secrets.
MIN_SECRET_CHARS = 6


def _sent_secrets(url: str, kwargs: Mapping[str, Any]) -> list[str]:
    """What this request carried that a peer could echo: the URL's path segments, query values and
    user info, the Basic Auth password (and its encoded header), every header value but the harmless."""
    found = [url]
    parts = urlsplit(url)
    found += [parts.path, parts.query, parts.password or "", parts.username or ""]
    found += parts.path.split("/") + [value for pair in parts.query.split("&") for value in pair.split("=")]
    auth = kwargs.get("auth")
    if isinstance(auth, tuple) and len(auth) == 2:
        import base64

        user, password = str(auth[0]), str(auth[1])
        found += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    for name, value in (kwargs.get("headers") or {}).items():
        if str(name).lower() not in SAFE_HEADERS:
            found += [str(value), *str(value).split()]
    return found


def mask_secrets(text: str, secrets: list[str]) -> str:
    """``text`` with every secret (and its percent-decoded form) replaced by ***, longest first."""
    from urllib.parse import unquote

    candidates = {s for secret in secrets for s in (secret, unquote(secret)) if len(s) >= MIN_SECRET_CHARS}
    for secret in sorted(candidates, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def deliver(
    session: requests.Session,
    method: str,
    url: str,
    *,
    location: str,
    timeout: float,
    policy: RetryPolicy,
    hint: Callable[[str | None], str] | None = None,
    sleep: Callable[[float], None] | None = None,
    deadline: float | None = None,
    **kwargs: Any,
) -> HttpReply:
    """Send a notification: a 2xx reply, or DeliveryError saying whether a retry could help.

    A 2xx status line means delivered, whatever its body does after (too long, cut, trickled):
    counting it as failed would post the message again on every retry. 4xx (but 408/429) is
    permanent: the request itself is wrong. 408, 429, 5xx, redirects and network failures are
    transient once the policy's retries (bounded by ``deadline``) are spent.
    """
    try:
        reply = send(
            session,
            method,
            url,
            location=location,
            timeout=timeout,
            policy=policy,
            max_body_bytes=64 * 1024,
            follow_redirects=False,
            complete_body=lambda status: not 200 <= status < 300,
            sleep=sleep,
            deadline=deadline,
            **kwargs,
        )
    except TransportError as exc:
        raise DeliveryError(location, f"{exc.detail} (will be retried)", permanent=False) from None
    if 200 <= reply.status < 300:
        return reply
    # What the peer said goes into the log only, masked: a peer may echo the URL's token or a
    # header (Express's 404 does). The message, which a batch sender sees, holds none of it.
    remote = mask_secrets(reply.text(PEER_EXCERPT_CHARS), _sent_secrets(url, kwargs)) or None
    said = f"HTTP {reply.status}"
    if reply.status in (408, 429) or reply.status >= 500 or 300 <= reply.status < 400:
        raise DeliveryError(
            location,
            f"{said} after retries (will be retried)",
            permanent=False,
            status=reply.status,
            remote_error=remote,
        )
    advice = f" ({hint(remote)})" if hint else ""
    raise DeliveryError(
        location,
        f"{said}: not retried, a retry cannot fix this{advice}",
        permanent=True,
        status=reply.status,
        remote_error=remote,
    )
