"""Sidekiq's figures read straight from its Redis, computed as ``Sidekiq::Stats`` does.

Two pipelined round trips: counters, sorted-set sizes, the process/queue sets, Redis's INFO
(memory, evictions) and the deaths since the previous poll first; then each process's heartbeat
and busy count and each queue's length and oldest job. Only read-only commands (GET, ZCARD,
ZCOUNT, ZRANGE, SMEMBERS, HMGET, HGETALL, LLEN, LINDEX, INFO, and ZREVRANGE for why jobs fail),
never KEYS, so a read-only ACL user suffices (docs/configuration.md has the line).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from ..errors import SourceError, causes
from ..settings import StatsAuth
from ..urls import redact_url
from .failures import SAMPLE_SIZE, SETS, FailureSummary, summarize
from .jobs import parse_job, queue_latency
from .snapshot import Snapshot

log = logging.getLogger("sidekiq_watch")
_CLIENTS: dict[tuple[str, StatsAuth, float], Any] = {}


def _longest_running(work_hashes: list[Any], now: float) -> tuple[float, str] | None:
    """How long the oldest job now running has run, and its class and queue; None when none runs.
    Each entry is ``{"queue", "payload" (the job, JSON text or an object), "run_at" (seconds)}``."""
    longest: tuple[float, str] | None = None
    for threads in work_hashes:
        for entry in (threads or {}).values():
            work = parse_job(entry).fields
            run_at = work.get("run_at") if work else None
            if work is None or isinstance(run_at, bool) or not isinstance(run_at, int | float):
                continue
            started = run_at / 1000 if run_at > 1e11 else float(run_at)  # milliseconds, should one come
            payload = work.get("payload")  # the job as JSON text (every version tested), or an object
            fields = payload if isinstance(payload, dict) else parse_job(str(payload)).fields
            name = (fields.get("wrapped") or fields.get("class")) if fields else None
            what = f"{str(name or '?')[:100]} in {str(work.get('queue') or '?')[:100]}"
            running = max(0.0, now - started)
            if longest is None or running > longest[0]:
                longest = (running, what)
    return longest


def _overdue(oldest: Any, now: float) -> float | None:
    """How far past due the oldest entry of a sorted set scored by due time is; 0 when none is due.
    Only grows when no process enqueues them (Sidekiq's scheduler has stopped)."""
    if oldest is None:
        return None
    if not oldest:
        return 0.0
    _, score = oldest[0]
    due = float(score)
    return max(0.0, now - due) if math.isfinite(due) else None


def _memory_percent(memory: Any) -> float | None:
    """used_memory / maxmemory x 100; absent when Redis has no limit (maxmemory 0) or hides it."""
    if not isinstance(memory, dict):
        return None
    limit, used = memory.get("maxmemory"), memory.get("used_memory")
    if not isinstance(limit, int) or not isinstance(used, int) or limit <= 0:
        return None
    return 100.0 * used / limit


def _evicts(memory: Any) -> int | None:
    """1 when maxmemory-policy may evict Sidekiq's keys, 0 under noeviction, absent when hidden."""
    if not isinstance(memory, dict):
        return None
    policy = memory.get("maxmemory_policy")
    if not isinstance(policy, str) or not policy:
        return None  # Redis Enterprise, for one, reports an empty policy
    return 0 if policy == "noeviction" else 1


# Sidekiq expires a process's hash 60 s after its last heartbeat.
BEAT_EXPIRY = 60.0


def _beat_age(beat: bytes | str | None, now: float) -> float:
    """Seconds since a process's last heartbeat; infinite when it has none that reads as a time."""
    try:
        stamp = float(beat) if beat is not None else math.nan
    except ValueError:
        return math.inf
    return now - stamp if math.isfinite(stamp) else math.inf


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _evicted_keys(stats: Any) -> int | None:
    """INFO stats' evicted_keys; absent when INFO was refused or a server hides it."""
    value = stats.get("evicted_keys") if isinstance(stats, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _int(value: bytes | str | int | None) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class RedisStatsSource:
    """Reads a Sidekiq's figures from its Redis (``redis://`` or ``rediss://`` for TLS)."""

    def __init__(self, url: str, auth: StatsAuth, *, timeout: float, namespace: str | None = None) -> None:
        self.url = url
        self.auth = auth
        self.timeout = timeout
        self.prefix = f"{namespace}:" if namespace else ""
        self.location = f"Redis {redact_url(url)}" + (f" (namespace {namespace})" if namespace else "")

    def _key(self, name: str) -> str:
        """Keys as redis-namespace writes them: ``NAMESPACE:key``."""
        return self.prefix + name

    def _client(self) -> Any:
        import redis

        key = (self.url, self.auth, self.timeout)
        client = _CLIENTS.get(key)
        if client is None:
            options: dict[str, Any] = {
                "socket_timeout": self.timeout,
                "socket_connect_timeout": self.timeout,
                "health_check_interval": 30,
                "retry_on_timeout": False,
            }
            if self.auth.username:
                options["username"] = self.auth.username
            if self.auth.password is not None:
                options["password"] = self.auth.password.reveal()
            client = redis.Redis.from_url(self.url, **options)
            _CLIENTS[key] = client
        return client

    def read(self) -> Snapshot:
        return self.read_since(None)

    def read_since(self, previous: float | None) -> Snapshot:
        """The figures; with the previous poll's time, also the jobs that died since (one ZCOUNT in
        the same pipeline: the dead set's size stops moving at its cap, its death times do not)."""
        import redis

        key = self._key
        try:
            client = self._client()
            first = client.pipeline(transaction=False)
            commands = []
            for name in ("stat:processed", "stat:failed"):
                first.get(key(name))
                commands.append("GET")
            for name in ("schedule", "retry", "dead"):
                first.zcard(key(name))
                commands.append("ZCARD")
            first.smembers(key("processes"))
            first.smembers(key("queues"))
            commands += ["SMEMBERS", "SMEMBERS"]
            # Best effort (a read-only user granted the ACL line of earlier versions may not run
            # them): the oldest entry of each set Sidekiq's scheduler moves, and Redis's memory.
            for name in ("schedule", "retry"):
                first.zrange(key(name), 0, 0, withscores=True)
                commands.append("ZRANGE?")
            first.info("memory")
            first.info("stats")
            commands += ["INFO?", "INFO?"]
            if previous is not None:
                first.zcount(key("dead"), f"({previous!r}", "+inf")
                commands.append("ZCOUNT?")
            answers = self._run(first, commands)
            processed, failed, scheduled, retries, dead, process_keys, queue_names = answers[:7]
            next_scheduled, next_retry, memory, stats = answers[7:11]
            died = answers[11] if previous is not None else None
            processes = sorted(_text(p) for p in process_keys)
            queues = sorted(_text(q) for q in queue_names)
            second = client.pipeline(transaction=False)
            commands = []
            for process in processes:
                second.hmget(key(process), "info", "busy", "beat", "quiet")
                commands.append("HMGET")
            for queue in queues:
                second.llen(key(f"queue:{queue}"))
                second.lindex(key(f"queue:{queue}"), -1)
                commands += ["LLEN", "LINDEX"]
            # What each process runs now, one entry per busy thread: `ID:work` from Sidekiq 7,
            # `ID:workers` before. Best effort, like the figures of the first pipeline.
            for process in processes:
                second.hgetall(key(f"{process}:work"))
                second.hgetall(key(f"{process}:workers"))
                commands += ["HGETALL?", "HGETALL?"]
            answers = self._run(second, commands)
        except redis.AuthenticationError:
            where = self.auth.password.variable if self.auth.password else "SIDEKIQ_STATS_PASSWORD"
            raise SourceError(
                "auth",
                self.location,
                f"Redis refused the credentials; check the user name and password ({where})",
            ) from None
        except redis.TimeoutError:
            raise SourceError("timeout", self.location, "Redis did not answer in time") from None
        except redis.ConnectionError as exc:
            raise SourceError(
                "connect", self.location, f"cannot talk to Redis ({_connection_reason(exc)})"
            ) from None
        now = time.time()
        heartbeats = answers[: len(processes)]
        alive = [(info, busy) for info, busy, _, _ in heartbeats if info is not None]
        # Beating within Sidekiq's heartbeat expiry: a process killed with -9 keeps its hash (and its
        # place in `processes`) for up to a minute, with a beat that no longer moves.
        live = [
            quiet
            for info, _, beat, quiet in heartbeats
            if info is not None and _beat_age(beat, now) < BEAT_EXPIRY
        ]
        sizes: dict[str, int] = {}
        latencies: dict[str, float] = {}
        oldest_jobs: dict[str, str] = {}
        work = answers[len(processes) + 2 * len(queues) :]
        rest = answers[len(processes) : len(processes) + 2 * len(queues)]
        unreadable: dict[str, str] = {}
        for index, queue in enumerate(queues):
            sizes[queue] = _int(rest[2 * index])
            head = rest[2 * index + 1]
            latency, problem = queue_latency(head, now)
            if latency is None:
                # Named, and left out: a rule on it cannot be evaluated; every other rule still is.
                unreadable[queue] = problem or "unreadable"
                continue
            latencies[queue] = latency
            oldest = parse_job(head).job_class if head is not None else None
            if oldest:
                oldest_jobs[queue] = oldest
        longest = _longest_running(work, now)
        refused = bool(work) and all(threads is None for threads in work)  # HGETALL not granted
        if unreadable:
            log.warning(
                "%s: the oldest job of %d queue(s) cannot be read, their latency is left out: %s",
                self.location,
                len(unreadable),
                "; ".join(f"{queue[:100]!a}: {why}" for queue, why in sorted(unreadable.items())[:10]),
            )
        return Snapshot(
            shape="redis",
            processed=_int(processed),
            failed=_int(failed),
            busy=sum(_int(busy) for _, busy in alive),
            processes=len(alive),
            live_processes=len(live),
            longest_running_seconds=longest[0] if longest else (None if refused else 0.0),
            longest_running_job=longest[1] if longest else None,
            scheduled_overdue_seconds=_overdue(next_scheduled, now),
            retry_overdue_seconds=_overdue(next_retry, now),
            redis_memory_percent=_memory_percent(memory),
            redis_evicts=_evicts(memory),
            redis_evicted_keys_total=_evicted_keys(stats),
            dead_added=None if died is None else _int(died),
            quiet_processes=sum(1 for quiet in live if _text(quiet or b"") == "true"),
            enqueued=sum(sizes.values()),
            scheduled=_int(scheduled),
            retries=_int(retries),
            dead=_int(dead),
            default_latency=latencies.get("default", None if "default" in unreadable else 0.0),
            queues=sizes,
            queue_latencies=latencies,
            oldest_jobs=oldest_jobs,
        )

    def _run(self, pipeline: Any, commands: list[str]) -> list[Any]:
        """The pipeline's answers; a command Redis refused is raised as a SourceError naming it,
        unless it is optional (``NAME?``): then its answer is None and its figures stay absent."""
        answers: list[Any] = pipeline.execute(raise_on_error=False)
        for index, (command, answer) in enumerate(zip(commands, answers, strict=True)):
            if isinstance(answer, Exception):
                if command.endswith("?"):
                    log.info("%s: %s refused, its figures are left out", self.location, command[:-1])
                    answers[index] = None
                    continue
                raise self._response_error(answer, command) from None
        return answers

    def failures(self, figures: Iterable[str]) -> dict[str, FailureSummary]:
        """Why jobs fail, for the figures asked (retries, dead): one pipelined round trip of bounded
        ZREVRANGEs over the newest entries. Best effort: a failure here never fails the poll."""
        import redis

        wanted = [figure for figure in figures if figure in SETS]
        if not wanted:
            return {}
        try:
            pipeline = self._client().pipeline(transaction=False)
            for figure in wanted:
                pipeline.zrevrange(self._key(SETS[figure]), 0, SAMPLE_SIZE - 1)
            answers = pipeline.execute()
        except redis.RedisError:
            return {}
        return {figure: summarize(entries) for figure, entries in zip(wanted, answers, strict=True)}

    def _response_error(self, exc: Exception, command: str) -> SourceError:
        """Classified by exception type; WRONGTYPE, which redis-py has no type for, by its error code."""
        import redis

        if isinstance(exc, redis.exceptions.NoPermissionError):
            return SourceError(
                "auth",
                self.location,
                f"the Redis user may not run {command}: grant it (see the ACL line in docs/configuration.md)",
            )
        if isinstance(exc, redis.AuthenticationError):
            return SourceError("auth", self.location, f"Redis refused {command}: authentication required")
        if isinstance(exc, redis.ResponseError) and str(exc).startswith("WRONGTYPE"):
            return SourceError(
                "bad_value",
                self.location,
                f"a key holds another kind of value than Sidekiq's ({command}: WRONGTYPE): is this "
                "Sidekiq's Redis, database and namespace?",
            )
        return SourceError(
            "protocol", self.location, f"Redis answered {command} with an error ({type(exc).__name__})"
        )


def _connection_reason(exc: Exception) -> str:
    """Why Redis could not be reached, from the socket errors redis-py wraps."""
    import socket
    import ssl

    chain = causes(exc)
    if any(isinstance(c, socket.gaierror) for c in chain):
        return "the host name could not be resolved"
    if any(isinstance(c, ConnectionRefusedError) for c in chain):
        return "connection refused"
    if any(isinstance(c, ssl.SSLError) for c in chain):
        return "TLS failed"
    return "connection lost"
