"""One poll of every target: source → snapshot → rules → lifecycle (with state) → message → channel.
(Who hears what: alerts/receivers.py; what the poll reports: alerts/report.py.)

Knows nothing of Lambda. Exactly-once rests on the store's versioned writes, in this order:
claim each transition (a conditional write with a lease), post one grouped message, then
confirm (or release on failure). A racing invocation loses the claim and posts nothing; a
crash leaves a claim that expires, after which the transition is decided afresh, so it is
never lost. The one window left: a crash after Slack's 200 and before the confirming write
re-sends that message once; losing it would be worse.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import requests

from .alerts.config import Target, WatchConfig, current_watch_config
from .alerts.history import History, Point, rates
from .alerts.lifecycle import (
    SOURCE_KEY,
    SOURCE_RULE,
    AlertRecord,
    Decision,
    decide,
    decide_source,
    hold_of,
)
from .alerts.messages import TargetView, render_notices
from .alerts.persistence import AlertStore, TargetState
from .alerts.persistence.exceptions import StateConflictsError
from .alerts.persistence.local_file import LocalFileStore
from .alerts.receivers import (
    ConfiguredReceivers,
    OneReceiver,
    Receivers,
    Told,
    record_key,
    sent_by,
)
from .alerts.report import Announcement, Heartbeat, PollReport, TargetReport
from .alerts.rules import evaluate
from .alerts.silences import Quieter, Silence, apply_silences, quieting
from .channels import Channel, Resources
from .channels.message import Message
from .channels.slack import SLACK_RETRY
from .errors import DeliveryError, SidekiqWatchError, SourceError
from .http import RetryPolicy, deliver
from .secrets import Secret
from .settings import PollerSettings, default_state_file
from .stats.failures import EXPLAINED_BY, SETS, FailureSummary
from .stats.snapshot import Snapshot
from .stats.sources import ReadsSinceLastPoll, StatsSource, failures_of, make_source
from .verdict import Verdict

MAX_HISTORY_QUEUES = 50
DEFAULT_LEASE_SECONDS = 300.0
# Polling is I/O-bound: enough threads that 1,000 targets take a few round trips, not hundreds.
MAX_CONCURRENT_TARGETS = 256
# Claims are not taken once the invocation's time is (nearly) spent; a post that then runs out of
# time is bounded by the same deadline and releases its claims.
MIN_ANNOUNCE_SECONDS = 0.25
# Claims are written this many at a time, the time left checked between chunks.
CLAIM_CHUNK = 100
HEARTBEAT_RETRY = RetryPolicy(attempts=2, backoff_seconds=0.5, max_retry_after_seconds=2.0)


def checked(snapshot: Snapshot, location: str) -> Snapshot:
    """The snapshot, or SourceError naming the first figure out of any range Sidekiq can have."""
    name = snapshot.out_of_range()
    if name is not None:
        raise SourceError(
            "bad_value", location, f"{name[:120]!a} is out of range (negative, not finite or too large)"
        )
    return snapshot


def history_point(snapshot: Snapshot, at: float) -> Point:
    figures = {k: v for k, v in snapshot.figures().items() if not k.startswith(("queue:", "latency:"))}
    for queue, size in sorted((snapshot.queues or {}).items())[:MAX_HISTORY_QUEUES]:
        figures[f"queue:{queue}"] = size
    return Point(at, figures)


@dataclass
class SharedReads:
    """A many-target poll's state, read for all targets in one go, and the histories to write so:
    two requests per target fewer, the larger part of a target's CPU (docs/performance.md)."""

    states: Mapping[str, TargetState] = field(default_factory=dict)
    unreadable: SidekiqWatchError | None = None
    histories: dict[str, History] = field(default_factory=dict)


class Watcher:
    """Polls targets against their rules, keeping alert state in ``store``."""

    def __init__(
        self,
        config: WatchConfig,
        store: AlertStore,
        *,
        source_for: Callable[[Target], StatsSource],
        channel_for: Callable[[Target], Channel] | None = None,
        receivers: Receivers | None = None,
        resources: Resources | None = None,
        clock: Callable[[], float] | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        silence_buttons: bool = False,
    ) -> None:
        self.config = config
        self.silence_buttons = silence_buttons  # a Slack app with a signing secret takes the clicks
        self.store = store
        self.source_for = source_for
        if receivers is None:
            if channel_for is None:
                raise TypeError("Watcher needs receivers or channel_for")
            receivers = OneReceiver(channel_for)
        self.receivers = receivers
        self.resources = resources or Resources(policy=SLACK_RETRY)
        self.clock = clock or (lambda: time.time())  # looked up at each call: tests may move time
        self.silences: tuple[Silence, ...] = ()  # read once per poll_all
        self.unreadable_silences: SidekiqWatchError | None = None
        self.lease_seconds = lease_seconds

    def poll_target(
        self,
        target: Target,
        time_left: Callable[[], float] | None = None,
        shared: SharedReads | None = None,
    ) -> TargetReport:
        """One target, start to end. Each step returns what has been seen so far, so a step that
        fails still reports everything before it (the figures when the state cannot be loaded).
        Nothing is claimed once ``time_left`` says the invocation is out of time: it is left, whole,
        to the next poll, and the report says so. ``shared``: the state was read for every target
        at once, and the history is written so too."""
        seen = TargetReport(target=target.name, checked_at=self.clock())
        try:
            source = self.source_for(target)
            # The state first, for the previous poll's time (deaths since then are counted in the same
            # round trip as every figure); if it cannot be loaded, the figures are still read and
            # reported before the poll fails.
            state: TargetState | None = None
            unloaded: SidekiqWatchError | None = self.unreadable_silences
            try:
                if unloaded is None and shared is not None:
                    unloaded = shared.unreadable
                    state = shared.states.get(target.name)
                elif unloaded is None:
                    state = self.store.load(target.name)
            except SidekiqWatchError as exc:
                unloaded = exc
            previous = state.history.latest() if state is not None else None
            try:
                read = (
                    source.read_since(previous.at if previous else None)
                    if isinstance(source, ReadsSinceLastPoll)
                    else source.read()
                )
                seen = replace(seen, snapshot=checked(read, source.location))
            except SourceError as exc:
                seen = replace(seen, source_error=exc)
            if state is None:
                raise unloaded or SidekiqWatchError(f"{target.name}: alert state unavailable")
            seen, decisions, history = self._decide(target, state, seen)
            if time_left is not None and time_left() < MIN_ANNOUNCE_SECONDS:
                left = sum(1 for d in decisions if d.notice is not None)
                return replace(seen, late=True, announced=Announcement(left=left))
            announced = self._announce(target, decisions, history, seen, source, time_left)
            seen = replace(seen, announced=announced)
            if seen.snapshot is not None and shared is not None:
                shared.histories[target.name] = history
            elif seen.snapshot is not None:
                self.store.save_history(target.name, history)
            return seen
        except SidekiqWatchError as exc:
            failure = exc
        except Exception as exc:
            # A library's own error (redis.InvalidResponse, say): this target fails, every other
            # target's report is kept; the traceback goes to the log.
            logging.getLogger("sidekiq_watch").exception("Polling %s failed unexpectedly", target.name)
            failure = SidekiqWatchError(f"{target.name}: unexpected error ({type(exc).__name__})")
        return replace(seen, failure=failure)

    def _decide(
        self, target: Target, state: TargetState, seen: TargetReport
    ) -> tuple[TargetReport, list[Decision], History]:
        """The findings, and for each receiver that hears it, its decision against that receiver's
        record (so each receiver is told each transition once); the history with this poll."""
        now = seen.checked_at

        def previous(key: str) -> AlertRecord:
            return state.records.get(key) or AlertRecord(target.name, key)

        told = Told.of(state, target)
        quieters: tuple[Quieter, ...] = (*self.silences, *self.config.silence_windows)
        known: dict[str, Quieter] = {quieter.id: quieter for quieter in quieters}

        def heard(decision: Decision, key: str, rule: str) -> Decision:
            """The decision with silences applied, for the alert's labels as routing saw them."""
            severity = decision.finding.severity or told.severities.get(key, "")
            labels = {"target": target.name, "rule": rule, "severity": severity}
            return apply_silences(decision, quieting(quieters, labels, now), known, now)

        def receivers(key: str, rule: str, severity: str | None) -> list[str]:
            """Where the routes send it (a resolve as its firing was), and whoever was told it fires:
            they hear how it ends even when the routes no longer send it to them."""
            severity = severity or told.severities.get(key, "")
            labels = {"target": target.name, "rule": rule, "severity": severity}
            names = list(self.receivers.route(target, labels))
            return names + [name for name in told.receivers.get(key, ()) if name not in names]

        reason = str(seen.source_error) if seen.source_error else None
        decisions = [
            heard(
                replace(
                    decide_source(
                        previous(record_key(SOURCE_KEY, name, target)),
                        reason,
                        now,
                        self.config.source_failures_before_alert,
                        self.config.repeat_interval,
                    ),
                    receiver=name,
                ),
                SOURCE_KEY,
                SOURCE_RULE.key,
            )
            for name in receivers(SOURCE_KEY, SOURCE_RULE.key, "critical")
        ]
        history = state.history
        snapshot = seen.snapshot
        if snapshot is not None:
            figures = snapshot.figures()
            figures.update(rates(figures, now, history.latest()))
            findings = evaluate(figures, target.rules, first_poll=history.latest() is None)
            repeat = self.config.repeat_interval
            ruled = [
                heard(
                    replace(decide(previous(record_key(f.key, name, target)), f, now, repeat), receiver=name),
                    f.key,
                    f.rule.key,
                )
                for f in findings
                for name in receivers(f.key, f.rule.key, f.severity)
            ]
            holds = {hold.key: hold for hold in (hold_of(d, now) for d in ruled) if hold is not None}
            silenced = {
                d.finding.key: d.record.silenced_by
                for d in ruled
                if d.notice is None and d.record.silenced_by
            }
            seen = replace(
                seen, findings=tuple(findings), holds=tuple(holds.values()), silenced=tuple(silenced.items())
            )
            decisions += ruled
            history = history.appended(history_point(snapshot, now), self.config.history_size)
        return seen, decisions, history

    def _announce(
        self,
        target: Target,
        decisions: list[Decision],
        history: History,
        seen: TargetReport,
        source: StatsSource,
        time_left: Callable[[], float] | None = None,
    ) -> Announcement:
        """Claim what is to be announced; send each receiver one message of its own; then confirm
        its claims, or release them if it failed (so a failing pager never re-posts to chat)."""
        quiet, claimed = self._claim(decisions, seen.checked_at, time_left)
        if not claimed:
            return quiet
        by_receiver: dict[str, list[tuple[Decision, AlertRecord]]] = {}
        for decision, claim in claimed:
            by_receiver.setdefault(decision.receiver, []).append((decision, claim))
        why = self._why(target, claimed, source)
        notices: dict[tuple[str, str], None] = {}
        sent: list[str] = []
        confirm_lost: list[str] = []
        failed: list[DeliveryError] = []
        unexpected: Exception | None = None
        for name, group in by_receiver.items():
            try:
                channel = self.receivers.channel(target, name)
                channel.deliver(self._message(target, group, history, seen, why), self.resources)
            except Exception as exc:
                # Not announced: released, so the next attempt decides again (one taken over already
                # needs no release). Whatever failed, a claimed transition is announced or released.
                releases = [
                    replace(claim, claim_id=None, claim_until=0.0, version=claim.version + 1)
                    for _, claim in group
                ]
                with contextlib.suppress(StateConflictsError):
                    self.store.save_all(releases)
                if isinstance(exc, DeliveryError):
                    failed.append(exc)
                else:
                    unexpected = unexpected or exc
                continue
            try:
                self.store.save_all(
                    [replace(decision.record, version=claim.version + 1) for decision, claim in group]
                )
            except StateConflictsError as exc:
                # Our lease ran out while sending and another invocation took over: say so.
                confirm_lost += [key for key in exc.keys if key not in confirm_lost]
            sent.append(sent_by(channel))
            notices.update(((d.notice or "", d.finding.key), None) for d, _ in group)
        if unexpected is not None and not sent:
            raise unexpected
        announced = replace(
            quiet,
            notices=tuple(notices),
            confirm_lost=tuple(confirm_lost),
            sent_by="; ".join(sent) or None,
        )
        permanent = [exc for exc in failed if exc.permanent]
        transient = [exc for exc in failed if not exc.permanent]
        if transient:
            announced = replace(announced, transient=transient[0])
        if permanent:
            announced = replace(announced, rejected=permanent[0])
        return announced

    def _why(
        self, target: Target, claimed: list[tuple[Decision, AlertRecord]], source: StatsSource
    ) -> Mapping[str, FailureSummary]:
        """Why jobs fail, read once per poll when a retries/dead rule is announced; best effort."""
        announced = {
            d.finding.rule.figure
            for d, _ in claimed
            if d.notice in ("firing", "severity", "reminder", "unsilenced")
        }
        explained = {EXPLAINED_BY.get(figure, figure) for figure in announced} & set(SETS)
        if not explained:
            return {}
        try:
            return failures_of(source, explained)
        except Exception:
            logging.getLogger("sidekiq_watch").exception("Reading why jobs fail on %s failed", target.name)
            return {}

    def _message(
        self,
        target: Target,
        claimed: list[tuple[Decision, AlertRecord]],
        history: History,
        seen: TargetReport,
        why: Mapping[str, FailureSummary],
    ) -> Message:
        """One receiver's message for what was claimed for it."""
        view = TargetView(target.name, target.web_url, seen.checked_at)
        snapshot = seen.snapshot
        oldest = (snapshot.oldest_jobs or {}) if snapshot else {}
        running = snapshot.longest_running_job if snapshot else None
        decisions = [d for d, _ in claimed]
        return render_notices(
            view, decisions, history, why, oldest, running, silence_buttons=self.silence_buttons
        )

    def _claim(
        self, decisions: list[Decision], now: float, time_left: Callable[[], float] | None = None
    ) -> tuple[Announcement, list[tuple[Decision, AlertRecord]]]:
        """Each notice claimed with a leased conditional write; quiet changes saved; the rest reported.

        Claims are written a chunk at a time while the time left covers what the claims so far took
        again (their confirming writes cost as much) and a margin: what does not fit is left, whole,
        to the next poll, never claimed without time to announce and confirm it.
        """
        already: list[str] = []
        others: list[str] = []
        quiet_changes: list[AlertRecord] = []
        claims: list[tuple[Decision, AlertRecord]] = []
        for decision in decisions:
            before = decision.previous
            if decision.notice is None:
                if (
                    decision.finding.status in ("firing", "unknown")
                    and before.status == decision.finding.status
                ):
                    already.append(decision.finding.key)
                if decision.changes_state and not before.claimed_at(now):
                    quiet_changes.append(replace(decision.record, version=before.version + 1))
                continue
            if before.claimed_at(now):
                others.append(decision.finding.key)
                continue
            claim = replace(
                before,
                claim_id=secrets.token_hex(16),
                claim_until=now + self.lease_seconds,
                version=before.version + 1,
            )
            claims.append((decision, claim))
        if quiet_changes:
            with contextlib.suppress(StateConflictsError):  # a quiet change lost: the next poll decides again
                self.store.save_all(quiet_changes)
        lost: set[str] = set()
        written = 0
        started = time.monotonic()
        while written < len(claims):
            spent = time.monotonic() - started
            if time_left is not None and time_left() < MIN_ANNOUNCE_SECONDS + spent:
                break
            chunk = claims[written : written + CLAIM_CHUNK]
            written += len(chunk)
            try:
                self.store.save_all([claim for _, claim in chunk])
            except StateConflictsError as exc:
                lost |= set(exc.keys)
        attempted = claims[:written]
        # Lost claims are named by their record's key: one per receiver, and the source's own.
        others += [decision.finding.key for decision, _ in attempted if decision.record.key in lost]
        claimed = [(decision, claim) for decision, claim in attempted if decision.record.key not in lost]
        quiet = Announcement(
            others_announcing=tuple(dict.fromkeys(others)),
            already_announced=tuple(dict.fromkeys(already)),
            left=len(claims) - written,
        )
        return quiet, claimed

    def poll_all(
        self,
        time_left: Callable[[], float] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[TargetReport]:
        """Every target concurrently; one that is slow or failing never holds up or hides the others."""
        targets = self.config.targets
        load = getattr(self.store, "load_silences", None)  # a store without silences has none
        self.unreadable_silences = None
        try:
            self.silences = load() if callable(load) else ()
        except SidekiqWatchError as exc:
            # The silences live with the alert state: if they cannot be read, neither can it be
            # trusted, and every target's poll fails as it would on the state (nothing is announced
            # that a silence may have been meant to keep quiet).
            self.silences, self.unreadable_silences = (), exc
        if len(targets) == 1:
            return [self.poll_target(targets[0], time_left)]
        from concurrent.futures import ThreadPoolExecutor, as_completed  # a single target never pays for it

        shared = SharedReads()
        if self.unreadable_silences is None:
            try:
                shared.states = self.store.load_many([target.name for target in targets])
            except SidekiqWatchError as exc:
                shared.unreadable = exc
        executor = ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_TARGETS, len(targets)))
        futures = {executor.submit(self.poll_target, t, time_left, shared): t for t in targets}
        done = set()
        try:
            for future in as_completed(futures, timeout=None if time_left is None else max(0.0, time_left())):
                done.add(future)
                if progress:
                    progress(len(done), len(futures))
        except TimeoutError:
            pass  # what is not done is reported as such below
        executor.shutdown(wait=False, cancel_futures=True)
        reports = []
        for future, target in futures.items():
            if future in done:
                reports.append(future.result())
            else:
                failure = SidekiqWatchError(f"{target.name}: poll did not finish in time")
                reports.append(TargetReport(target.name, self.clock(), failure=failure, late=True))
        histories = dict(shared.histories)  # a late target's thread may still add its own
        if histories:
            try:
                self.store.save_histories(histories)
            except SidekiqWatchError as exc:
                reports = [
                    replace(r, failure=r.failure or exc) if r.target in histories else r for r in reports
                ]
        return reports


def open_store(settings: PollerSettings, *, connect: bool = False) -> AlertStore:
    """DynamoDB when STATE_TABLE is set, else the local state file; ``connect`` makes the DynamoDB
    client now rather than at the first read."""
    if settings.state_table:
        from .alerts.persistence.dynamodb import DynamoDBStore

        store = DynamoDBStore(settings.state_table, connections=MAX_CONCURRENT_TARGETS)
        return store.connect() if connect else store
    path = Path(settings.state_file) if settings.state_file else default_state_file()
    return LocalFileStore(path)


def target_source(
    settings: PollerSettings,
    target: Target,
    *,
    session: requests.Session | None = None,
    deadline: float | None = None,
) -> StatsSource:
    """Where a target's figures are read: the one wiring the poller, `check` and the benches use."""
    return make_source(
        target.stats_url,
        target.auth,
        timeout=settings.http_timeout_seconds,
        session=session,
        namespace=target.namespace,
        deadline=deadline,
        detail_url=target.redis_url,
        detail_auth=target.redis_auth,
    )


def alert_resources(
    settings: PollerSettings, *, session: requests.Session | None = None, deadline: float | None = None
) -> Resources:
    """What alert channels share: the settings' timeout, one session, Slack's retry policy, the deadline."""
    if session is None:
        return Resources(timeout=settings.http_timeout_seconds, policy=SLACK_RETRY, deadline=deadline)
    return Resources(
        timeout=settings.http_timeout_seconds, session=session, policy=SLACK_RETRY, deadline=deadline
    )


def build_watcher(
    settings: PollerSettings,
    *,
    session: requests.Session | None = None,
    store: AlertStore | None = None,
    config: WatchConfig | None = None,
    dry_run: bool = False,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    deadline: float | None = None,
) -> Watcher:
    """A Watcher wired from the settings: each target's source, its Slack webhook (or the dry-run printer).

    ``deadline`` (``time.monotonic()``) bounds every exchange and its retries: what the invocation has left.
    """

    def source_for(target: Target) -> StatsSource:
        return target_source(settings, target, session=session, deadline=deadline)

    config = config or current_watch_config(settings)
    return Watcher(
        config,
        store or open_store(settings),
        source_for=source_for,
        receivers=ConfiguredReceivers(settings, config, dry_run=dry_run),
        silence_buttons=settings.slack_signing_secret is not None,
        resources=alert_resources(settings, session=session, deadline=deadline),
        lease_seconds=lease_seconds,
    )


def run_poll(
    watcher: Watcher,
    time_left: Callable[[], float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PollReport:
    report = PollReport(watcher.poll_all(time_left, progress), watcher.store.description)
    url = watcher.config.heartbeat_url
    if url is None:
        return report
    if report.verdict() not in (Verdict.OK, Verdict.ALERTING):
        return replace(report, heartbeat=Heartbeat.HELD_BACK)
    return replace(report, heartbeat=send_heartbeat(url, watcher.resources))


def send_heartbeat(url: Secret, resources: Resources) -> Heartbeat:
    """One GET to the heartbeat URL (Healthchecks.io, Cronitor, Dead Man's Snitch, Better Stack): its
    silence is the alarm when the watchdog stops. Its failure is logged, never raised."""
    try:
        address = url.reveal()
        deliver(
            resources.session,
            "GET",
            address,
            location=f"heartbeat ({urlsplit(address).hostname or 'unknown host'})",
            timeout=min(resources.timeout, 10.0),
            policy=HEARTBEAT_RETRY,
            deadline=resources.deadline,
        )
    except SidekiqWatchError as exc:
        logging.getLogger("sidekiq_watch").warning("Heartbeat not sent: %s", exc)
        return Heartbeat.FAILED
    return Heartbeat.SENT
