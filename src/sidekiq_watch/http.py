"""The one place HTTP exchanges happen: timeouts, bounded retries honouring Retry-After, a body cap.

Errors from here never contain the URL: callers pass a ``location`` label (already redacted)
that is used in every message instead.
"""

from __future__ import annotations

import email.utils
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from . import __version__
from .errors import DeliveryError, TransportError, TransportKind
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


def new_session() -> requests.Session:
    """A pooled session; one per container and host family keeps TLS connections warm."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    # Targets are polled concurrently, often several on one host: keep that many connections warm.
    adapter = requests.adapters.HTTPAdapter(pool_connections=32, pool_maxsize=64)
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
    text = str(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timeout", "timed out while connecting"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout", "timed out waiting for an answer"
    if isinstance(exc, requests.exceptions.SSLError):
        return "ssl", "TLS handshake failed (certificate or protocol problem)"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "invalid_url", "the URL is not valid"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if (
            isinstance(exc.__context__, socket.gaierror)
            or "Name or service not known" in text
            or (
                "nodename nor servname" in text
                or "Failed to resolve" in text
                or "NameResolutionError" in text
            )
        ):
            return "dns", "the host name could not be resolved (DNS)"
        if "Connection refused" in text or "NewConnectionError" in text:
            return "connect", "could not connect (connection refused)"
        return "reset", "the connection was closed or reset before a full answer arrived"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "reset", "the answer was cut off mid-body"
    return "reset", f"the exchange failed ({type(exc).__name__})"


def _read_capped(response: requests.Response, max_bytes: int, deadline: float, location: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TransportError(
            "too_large", location, f"the answer is {int(declared)} bytes, over the {max_bytes}-byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > max_bytes:
            raise TransportError("too_large", location, f"the answer exceeds the {max_bytes}-byte limit")
        if time.monotonic() > deadline:
            raise TransportError("timeout", location, "the answer arrived too slowly (total time limit)")
        chunks.append(chunk)
    return b"".join(chunks)


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
    **kwargs: Any,
) -> HttpReply:
    """One HTTP exchange with bounded retries on 429/5xx and network failures.

    Returns the last reply (whatever its status) once retries are spent or the status is
    final; raises TransportError when no reply came at all. A Retry-After longer than the
    policy allows ends the retries at once rather than hammering the peer early.
    """
    pause = sleep or time.sleep
    attempt = 0
    while True:
        attempt += 1
        deadline = time.monotonic() + timeout
        try:
            with session.request(method, url, timeout=timeout, stream=True, **kwargs) as response:
                body = _read_capped(response, max_body_bytes, deadline, location)
                reply = HttpReply(
                    status=response.status_code,
                    headers=dict(response.headers),
                    body=body,
                    url=response.url,
                    redirects=tuple(r.headers.get("Location", "") for r in response.history),
                )
        except TransportError as exc:
            if exc.kind == "too_large" or attempt >= policy.attempts:
                raise
            pause(policy.backoff(attempt))
            continue
        except requests.RequestException as exc:
            kind, detail = _classify(exc)
            if kind == "invalid_url" or attempt >= policy.attempts:
                raise TransportError(kind, location, f"{detail} (after {attempt} attempt(s))") from None
            pause(policy.backoff(attempt))
            continue
        if reply.status not in RETRYABLE_STATUSES or attempt >= policy.attempts:
            return reply
        wait = parse_retry_after(reply.headers.get("Retry-After"))
        if wait is None:
            wait = policy.backoff(attempt)
        elif wait > policy.max_retry_after_seconds:
            return reply
        pause(wait)


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
    **kwargs: Any,
) -> HttpReply:
    """Send a notification: a 2xx reply, or DeliveryError saying whether a retry could help.

    4xx (but 408/429) is permanent: the request itself is wrong. 408, 429, 5xx and network
    failures are transient once the policy's retries are spent.
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
            allow_redirects=False,
            sleep=sleep,
            **kwargs,
        )
    except TransportError as exc:
        detail = str(exc).removeprefix(f"{location}: ")
        raise DeliveryError(location, f"{detail} (will be retried)", permanent=False) from None
    if 200 <= reply.status < 300:
        return reply
    remote = reply.text(200) or None
    said = f"HTTP {reply.status} {remote or ''}".rstrip()
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
