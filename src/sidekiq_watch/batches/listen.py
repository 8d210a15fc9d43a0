"""Follow batches live from Redis pub/sub, for teams that run a long-lived process.

Sidekiq Pro publishes each batch's progress on ``batch-<bid>``: ``+`` a job succeeded, ``-``
a job failed (it may retry), ``!`` the batch is complete, ``$`` the batch succeeded. The
listener pattern-subscribes to ``batch-*``, counts per batch, and hands ``!`` and ``$`` to the
same fan-out as the webhook function (same channels, routes and exactly-once records). The
batch's own counts are read from its ``b-<bid>`` hash when present, else from what was heard.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..settings import StatsAuth
from .payload import BatchEvent, BatchEventName, BatchStatus

log = logging.getLogger("sidekiq_watch.listen")
EVENT_SIGNALS: dict[str, BatchEventName] = {"!": "complete", "$": "success"}
MAX_TRACKED_BATCHES = 10_000


@dataclass
class Progress:
    succeeded: int = 0
    failed: int = 0


class BatchListener:
    """Subscribes, reconnects with capped exponential backoff, stops when ``stop`` is set."""

    def __init__(
        self,
        redis_url: str,
        on_event: Callable[[BatchEvent], None],
        *,
        auth: StatsAuth | None = None,
        namespace: str | None = None,
        stop: threading.Event | None = None,
        timeout: float = 5.0,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.redis_url = redis_url
        self.on_event = on_event
        self.auth = auth or StatsAuth()
        self.prefix = f"{namespace}:" if namespace else ""
        self.stop = stop or threading.Event()
        self.timeout = timeout
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.progress: dict[str, Progress] = {}
        self.subscribed = threading.Event()
        self.reconnects = 0

    def _client(self) -> Any:
        import redis

        return redis.Redis.from_url(
            self.redis_url,
            username=self.auth.username,
            password=self.auth.password.reveal() if self.auth.password else None,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            health_check_interval=15,
        )

    def run(self) -> None:
        import redis

        delay = self.backoff_seconds
        while not self.stop.is_set():
            client = None
            try:
                client = self._client()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(f"{self.prefix}batch-*")
                self.subscribed.set()
                log.info("listening for batch progress on %s", f"{self.prefix}batch-*")
                delay = self.backoff_seconds
                while not self.stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self.handle(message, client)
                pubsub.close()
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self.subscribed.clear()
                self.reconnects += 1
                log.warning("Redis connection lost (%s); reconnecting in %.1fs", type(exc).__name__, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, self.max_backoff_seconds)
            finally:
                if client is not None:
                    client.close()
        log.info("stopped")

    def handle(self, message: dict[str, Any], client: Any) -> None:
        channel = _text(message.get("channel"))
        signal = _text(message.get("data")).strip()
        bid = channel.removeprefix(f"{self.prefix}batch-")
        if not bid or bid == channel:
            return
        progress = self.progress.setdefault(bid, Progress())
        if signal == "+":
            progress.succeeded += 1
        elif signal == "-":
            progress.failed += 1
        elif signal in EVENT_SIGNALS:
            self.on_event(BatchEvent(self.status_of(bid, progress, client), EVENT_SIGNALS[signal]))
            if signal == "$":
                self.progress.pop(bid, None)
        if len(self.progress) > MAX_TRACKED_BATCHES:  # batches whose end we never heard
            self.progress.pop(next(iter(self.progress)))

    def status_of(self, bid: str, progress: Progress, client: Any) -> BatchStatus:
        """The batch's counts from its Redis hash when it is there, else from the messages heard."""
        data: dict[str, Any] = {"bid": bid, "failures": progress.failed}
        try:
            stored = {_text(k): _text(v) for k, v in (client.hgetall(f"{self.prefix}b-{bid}") or {}).items()}
        except Exception:  # the counts are a courtesy: the event itself must still go out
            stored = {}
        for field in ("total", "pending", "failures"):
            if stored.get(field, "").lstrip("-").isdigit() and int(stored[field]) >= 0:
                data[field] = int(stored[field])
        if stored.get("description"):
            data["description"] = stored["description"][:10_000]
        return BatchStatus.model_validate(data)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)
