"""The ``sidekiq-watch`` command: poll Sidekiq once, or invoke a Lambda handler locally.

Flags override the environment variables the Lambda reads, so a laptop run and the deployed
function behave the same.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import BatchRequestError, ConfigError, DeliveryError
from .verdict import Verdict

if TYPE_CHECKING:
    from .checks import CheckReport

# Each verdict of `poll` and `check` (sidekiq_watch.verdict), its exit status and its words:
# --help, README and the code read this one table.
VERDICTS: dict[Verdict, tuple[int, str]] = {
    Verdict.OK: (0, "all is well"),
    Verdict.ALERTING: (1, "a rule fires or a source cannot be read"),
    Verdict.CONFIG: (2, "the configuration is invalid"),
    Verdict.DELIVERY: (3, "a message could not be delivered"),
    Verdict.FAILED: (
        4,
        "the poll could not finish (alert state unavailable, an unexpected error, out of time)",
    ),
}
EXIT_STATUSES = dict(VERDICTS.values())
EXIT_OK, EXIT_ALERT, EXIT_CONFIG, EXIT_DELIVERY, EXIT_FAILED = (code for code, _ in VERDICTS.values())
EXIT_HANDLER_FAILED = 1  # invoke: the function raised (its SAM-shaped error is on stdout)
EXIT_HELP = "Exit status: " + ", ".join(f"{code} {meaning}" for code, meaning in EXIT_STATUSES.items()) + "."

# flag dest -> environment variable it overrides
POLL_FLAGS = {
    "stats_url": "SIDEKIQ_STATS_URL",
    "source_name": "SIDEKIQ_SOURCE_NAME",
    "threshold": "RETRY_THRESHOLD",
    "webhook_url": "SLACK_WEBHOOK_URL",
    "channel": "SLACK_CHANNEL",
    "timeout": "HTTP_TIMEOUT_SECONDS",
    "config": "SIDEKIQ_WATCH_CONFIG",
    "state": "STATE_FILE",
}


def _whole_number(text: str) -> str:
    """Checked as typed, so the error names the flag and the value rather than the variable it sets."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text!r}")
    return text.strip()


def _seconds(text: str) -> str:
    try:
        if float(text) >= 0.1:
            return text.strip()
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected a number of seconds of at least 0.1, got {text!r}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sidekiq-watch",
        description="Watch Sidekiq's queues and tell Slack when something goes wrong.",
        epilog="Every flag of 'poll' overrides the environment variable of the same meaning "
        "(docs/configuration.md lists every variable).",
    )
    parser.add_argument("--version", action="version", version=f"sidekiq-watch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    poll = commands.add_parser(
        "poll",
        help="read the stats once, evaluate the rules, post (or print) the message",
        description="Read Sidekiq's figures once and alert as the Lambda would, keeping alert state "
        "(STATE_TABLE, else a local file) so a rule still firing is not announced twice. Without a Slack "
        "webhook (SLACK_WEBHOOK_URL or --webhook-url) the message is printed instead (dry run). " + EXIT_HELP,
    )
    poll.add_argument(
        "--stats-url", metavar="URL_OR_FILE", help="stats endpoint or JSON file (SIDEKIQ_STATS_URL)"
    )
    poll.add_argument("--source-name", metavar="NAME", help="name shown in messages (SIDEKIQ_SOURCE_NAME)")
    poll.add_argument(
        "--threshold",
        metavar="N",
        type=_whole_number,
        help="alert when retries > N (RETRY_THRESHOLD, default 50)",
    )
    poll.add_argument("--webhook-url", metavar="URL", help="Slack incoming webhook (SLACK_WEBHOOK_URL)")
    poll.add_argument("--channel", metavar="#NAME", help="Slack channel override (SLACK_CHANNEL)")
    poll.add_argument(
        "--timeout", metavar="SECONDS", type=_seconds, help="HTTP timeout (HTTP_TIMEOUT_SECONDS, default 10)"
    )
    poll.add_argument(
        "--config", metavar="FILE_OR_SSM", help="targets and rules document (SIDEKIQ_WATCH_CONFIG)"
    )
    poll.add_argument("--state", metavar="FILE", help="local alert-state file (STATE_FILE)")
    poll.add_argument("--dry-run", action="store_true", help="print the message even if a webhook is set")
    poll.add_argument(
        "--json", action="store_true", help="print the poll report as JSON (stdout: that document alone)"
    )

    check = commands.add_parser(
        "check",
        help="validate the configuration, resolve every secret, read every target once",
        description="Loads and validates the whole configuration (environment, the targets-and-rules "
        "document, BATCH_CONFIG if set), resolves every secret reference (naming any that cannot be read, "
        "never printing a value), checks the alert state can be read, reads every target once and shows "
        "each figure, its rule and its state, with the source's latency. Exit status: 0 all is well, "
        "1 something is wrong (a check failed, a source could not be read, or a rule is firing), "
        "2 the configuration itself is invalid.",
    )
    check.add_argument(
        "--config", metavar="FILE_OR_SSM", help="targets and rules document (SIDEKIQ_WATCH_CONFIG)"
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")

    silence = commands.add_parser(
        "silence",
        help="quiet matching alerts for a while: silence add | list | expire",
        description="Silences are kept with the alert state (STATE_TABLE, else the local file), so the "
        "deployed poller and a laptop share them. While one matches a firing alert its firing and "
        "reminders are not announced; its resolve still is (when the firing had been), and a silence "
        "that ends while the alert fires announces it once.",
    )
    silence.add_argument("--state", metavar="FILE", help="local alert-state file (STATE_FILE)")
    actions = silence.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a silence; prints its id")
    add.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="LABEL=GLOB",
        help="target=shop, rule='retries*', severity=warning; at least one, all must match",
    )
    add.add_argument("--for", dest="duration", required=True, metavar="DURATION", help="e.g. 2h (at most 7d)")
    add.add_argument("--comment", default="", help="why, e.g. 'deploy 4711'")
    add.add_argument("--author", default=None, help="who (default: $USER)")
    actions.add_parser("list", help="active silences and those ended in the last week")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id", metavar="ID")

    notify = commands.add_parser(
        "test-notify",
        help="send a clearly marked test message to Slack, every receiver and every batch channel",
        description="Sends a test message, marked as such, to every Slack webhook the poller uses (global "
        "and per target) and every receiver of the configuration (a pager's test is triggered, then "
        "resolved), and a test batch event to every channel of BATCH_CONFIG, and reports each outcome. "
        "Exit status 0 when every one was delivered, 3 otherwise.",
    )
    notify.add_argument(
        "--channel", metavar="NAME", help="only this one: slack, slack:TARGET, receiver:NAME or batch:CHANNEL"
    )
    notify.add_argument(
        "--config", metavar="FILE_OR_SSM", help="targets and rules document (SIDEKIQ_WATCH_CONFIG)"
    )
    notify.add_argument("--json", action="store_true", help="machine-readable output")

    listen = commands.add_parser(
        "listen",
        help="follow batches live on Redis pub/sub and fan out their complete/success events",
        description="A long-running process: pattern-subscribes to Sidekiq Pro's batch-* channels and "
        "hands every complete (!) and success ($) to the channels and routes of BATCH_CONFIG, with the "
        "same exactly-once records as the webhook function (DELIVERY_TABLE, else a local file). "
        "Reconnects with backoff when Redis goes away; stops cleanly on SIGTERM or Ctrl-C.",
    )
    listen.add_argument(
        "--redis-url", metavar="URL", help="Sidekiq's Redis (default: SIDEKIQ_STATS_URL if redis://)"
    )
    listen.add_argument("--namespace", metavar="NS", help="redis-namespace prefix (SIDEKIQ_REDIS_NAMESPACE)")
    listen.add_argument("--config", metavar="FILE_OR_SSM", help="channels and routes (BATCH_CONFIG)")

    invoke = commands.add_parser(
        "invoke",
        help="run a function of the templates on an event file, in-process (sam local invoke without Docker)",
        description="Read the function's handler and environment from its template (template.yaml or "
        "batch-notifications.yaml, whichever declares it), apply --env-vars "
        "(SAM's JSON format), and call the handler in this process with the event; prints the result.",
    )
    invoke.add_argument("function", metavar="FUNCTION_LOGICAL_ID", help="e.g. PollerFunction")
    invoke.add_argument(
        "--event", "-e", required=True, metavar="FILE", help="event JSON, e.g. events/scheduled.json"
    )
    invoke.add_argument("--env-vars", "-n", metavar="FILE", help="environment overrides in SAM's JSON format")
    invoke.add_argument(
        "--template", "-t", metavar="FILE", help="default: template.yaml or batch-notifications.yaml"
    )
    invoke.add_argument(
        "--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE", help="template parameter values"
    )
    return parser


def _poll(args: argparse.Namespace) -> int:
    from .http import new_session
    from .poll import build_watcher, run_poll
    from .settings import load_poller_settings

    env = dict(os.environ)
    for dest, variable in POLL_FLAGS.items():
        value = getattr(args, dest)
        if value is not None:
            env[variable] = value
    settings = load_poller_settings(env)
    watcher = build_watcher(settings, session=new_session(), dry_run=args.dry_run)

    def progress(done: int, total: int) -> None:
        print(
            f"\rpolled {done}/{total} targets", end="" if done < total else "\n", file=sys.stderr, flush=True
        )

    if args.json:  # stdout is the report alone: a dry run's message goes to stderr
        with contextlib.redirect_stdout(sys.stderr):
            report = run_poll(watcher, progress=progress if sys.stderr.isatty() else None)
        print(json.dumps(report.as_dict(), indent=2))
    else:
        report = run_poll(watcher, progress=progress if sys.stderr.isatty() else None)
        _print_summary(report.as_dict())
    return VERDICTS[report.verdict()][0]


def _print_summary(report: dict[str, Any]) -> None:
    out = sys.stderr
    print(f"state: {report['state']}", file=out)
    if report.get("heartbeat"):
        print(f"heartbeat: {report['heartbeat']}", file=out)
    for target in report["targets"]:
        read = target["shape"] or ("unreadable" if target["source_error"] else "not read")
        print(f"target {target['target']} ({read})", file=out)
        if target["source_error"]:
            print(f"  cannot read stats: {target['source_error']['message']}", file=out)
        for name, value in target["figures"].items():
            print(f"  {name:<24} {value:g}", file=out)
        for finding in target["findings"]:
            held = f" ({finding['held']})" if finding.get("held") else ""
            print(f"  rule {finding['rule']}: {finding['status'].upper()}{held}", file=out)
        announced = (
            ", ".join(f"{n['notice']} {_rule_words(n['rule'])}" for n in target["notices"]) or "nothing new"
        )
        if target["already_announced"]:
            earlier = ", ".join(target["already_announced"])
            announced += f" (already announced, reminders follow REPEAT_INTERVAL: {earlier})"
        print(f"  announced: {announced}", file=out)
        if target["error"]:
            print(f"  error: {target['error']}", file=out)
        print(f"  message: {target['delivery']}", file=out)


def _rule_words(key: str) -> str:
    """A rule as the user wrote it; the built-in "cannot read the stats" rule in words."""
    from .alerts.lifecycle import SOURCE_RULE

    return "stats unreadable" if key == SOURCE_RULE.key else key


def _invoke(args: argparse.Namespace) -> int:
    import traceback

    from .local_invoke import HandlerRaised, invoke

    overrides = {}
    for pair in args.parameter_overrides:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--parameter-overrides: expected KEY=VALUE, got {pair!r}")
        overrides[key] = value
    try:
        result = invoke(
            args.template,
            args.function,
            args.event,
            env_vars_path=args.env_vars,
            parameter_overrides=overrides,
        )
    except HandlerRaised as raised:
        # The response SAM prints for a handler that raised; unlike SAM, the exit status says so too.
        traceback.print_exception(raised.original, file=sys.stderr)
        print(json.dumps(raised.response(), indent=2))
        return EXIT_HANDLER_FAILED
    print(json.dumps(result, indent=2, default=str))
    return EXIT_OK


def _listen(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from .batches.config import load_batch_config
    from .batches.delivery_log import DeliveryLog, persistence_for
    from .batches.fanout import dispatch
    from .batches.listen import BatchListener
    from .batches.payload import BatchEvent
    from .channels import Resources
    from .settings import default_state_file, load_all_settings, stats_scheme

    poller, settings = load_all_settings(os.environ)
    redis_url = args.redis_url or (
        poller.stats_url if poller.stats_url and stats_scheme(poller.stats_url) == "redis" else None
    )
    if not redis_url or stats_scheme(redis_url) != "redis":
        raise ConfigError(
            "--redis-url: give Sidekiq's Redis (redis:// or rediss://), or set SIDEKIQ_STATS_URL to it"
        )
    config = load_batch_config(args.config or settings.batch_config_reference)
    resources = Resources(timeout=settings.http_timeout_seconds, web_url=settings.sidekiq_web_url)
    log = DeliveryLog(
        persistence_for(settings.delivery_table, default_state_file().with_name("deliveries.json"))
    )
    stop = threading.Event()

    def deliver(event: BatchEvent) -> None:
        try:
            _, outcomes = dispatch(event, config, resources, log)
        except BatchRequestError as exc:
            print(f"batch {event.bid} {event.event}: refused: {exc}", file=sys.stderr)
            return
        told = ", ".join(f"{o.channel} {o.status}" for o in outcomes) or "no route matches"
        print(f"batch {event.bid} {event.event} (failures {event.status.failures}): {told}", file=sys.stderr)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    listener = BatchListener(
        redis_url,
        deliver,
        auth=poller.stats_auth,
        namespace=args.namespace or poller.redis_namespace,
        stop=stop,
        timeout=settings.http_timeout_seconds,
    )
    listener.run()
    return EXIT_OK


GREEN, RED, YELLOW, DIM, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[0m"


def _painter(stream: Any) -> Any:
    """Colours only for a terminal (and never when NO_COLOR is set)."""
    coloured = hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")
    return lambda text, colour: f"{colour}{text}{RESET}" if coloured else text


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(_plain(row[i])) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell + " " * (widths[i] - len(_plain(cell))) for i, cell in enumerate(row)).rstrip()
        for row in rows
    ]


def _plain(text: str) -> str:
    return re.sub(r"\033\[[0-9;]*m", "", text)


def _silence(args: argparse.Namespace) -> int:
    import time

    from .alerts.silences import new_silence, parse_matchers
    from .poll import open_store
    from .settings import load_poller_settings

    env = dict(os.environ)
    if args.state:
        env["STATE_FILE"] = args.state
    store = open_store(load_poller_settings(env))
    now = time.time()
    if args.action == "add":
        author = args.author or os.environ.get("USER") or "someone"
        added = new_silence(parse_matchers(args.match), args.duration, author, args.comment, now)
        store.save_silence(added)
        print(added.id)
        return EXIT_OK
    silences = {silence.id: silence for silence in store.load_silences()}
    if args.action == "expire":
        if args.id not in silences:
            raise ConfigError(f"silence {args.id[:40]!r}: no such silence (see `sidekiq-watch silence list`)")
        ended = silences[args.id]
        if ended.ends_at > now:
            from dataclasses import replace

            store.save_silence(replace(ended, ends_at=now))
        print(f"{args.id} expired")
        return EXIT_OK
    for silence in silences.values():
        state = "active" if silence.active(now) else ("pending" if silence.starts_at > now else "expired")
        matchers = " ".join(f"{name}={glob}" for name, glob in silence.matchers)
        start, end = (_when(at) for at in (silence.starts_at, silence.ends_at))
        comment = f"  {silence.comment}" if silence.comment else ""
        print(f"{silence.id}  {state:<7}  {matchers}  by {silence.author}  {start} -> {end}{comment}")
    if not silences:
        print("no silences")
    return EXIT_OK


def _when(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _check(args: argparse.Namespace) -> int:
    from .checks import run_check
    from .http import new_session
    from .settings import load_all_settings

    env = dict(os.environ)
    if args.config:
        env["SIDEKIQ_WATCH_CONFIG"] = args.config
    poller, batch = load_all_settings(env)

    def progress(message: str) -> None:
        if sys.stderr.isatty():
            print(f"\r{message}", end="", file=sys.stderr, flush=True)

    report = run_check(poller, batch, new_session(), progress=None if args.json else progress)
    if sys.stderr.isatty() and not args.json:
        print("\r", end="", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_check(report, sys.stdout)
    return VERDICTS[report.verdict()][0]


def _print_check(report: CheckReport, out: Any) -> None:
    """What was checked, then each target's figures against its rules, then the verdict in words."""
    paint = _painter(out)
    rows = [["", "what", "", "detail"]]
    for item in report.checks:
        mark = paint("ok", GREEN) if item.ok else paint("FAIL", RED)
        rows.append([mark, item.area, item.name, item.detail])
    print("\n".join(_table(rows)), file=out)
    colours = {"firing": RED, "clearing": RED, "ok": GREEN, "unknown": YELLOW, "pending": YELLOW}
    for target in report.targets:
        latency = f"{target.latency_ms:.0f} ms" if target.latency_ms is not None else "-"
        print(
            f"\n{target.name}  {paint(target.location, DIM)}  ({target.shape or 'unreadable'}, {latency})",
            file=out,
        )
        if target.error:
            print(f"  {paint('cannot read', RED)}: {target.error}", file=out)
            continue
        rows = [["  figure", "value", "rule", "state"]]
        for row in target.rows:
            value = "-" if row["value"] is None else f"{row['value']:g}"
            state = row["status"].upper() + (f" ({row['severity']})" if row["severity"] else "")
            state += f" ({row['held']})" if row.get("held") else ""
            rows.append([f"  {row['figure']}", value, row["rule"], paint(state, colours[row["status"]])])
        print("\n".join(_table(rows)), file=out)
        shown = {row["figure"] for row in target.rows}
        other = [f"{k} {v:g}" for k, v in target.figures.items() if k not in shown and ":" not in k]
        if other:
            print(f"  also read: {', '.join(other)}", file=out)
        if target.unseen:
            print(f"  {paint('not seen by this source', DIM)}: {', '.join(target.unseen)}", file=out)
        if target.left_out:
            print(
                f"  bundled rules left out here (their figure is not seen): {', '.join(target.left_out)}",
                file=out,
            )
    if report.quiet:
        print("\nsilences and mute windows active now:", file=out)
        print("\n".join(f"  {line}" for line in report.quiet), file=out)
    if report.routes:
        print("\nroutes (first match wins unless continue):", file=out)
        print("\n".join(f"  {line}" for line in report.routes), file=out)
        for target in report.targets:
            print(f"\n{target.name}: who hears what", file=out)
            for rule, names in target.reaches.items():
                print(f"  {rule} -> {', '.join(names) or 'nobody'}", file=out)
    code, words = VERDICTS[report.verdict()]
    print(f"\n{paint(words, GREEN if code == EXIT_OK else RED)}", file=out)


def _test_notify(args: argparse.Namespace) -> int:
    from .checks import notify_batch_channels, notify_targets
    from .http import new_session
    from .settings import load_all_settings

    env = dict(os.environ)
    if args.config:
        env["SIDEKIQ_WATCH_CONFIG"] = args.config
    poller, batch = load_all_settings(env)
    results = notify_targets(poller, new_session(), args.channel) + notify_batch_channels(batch, args.channel)
    if not results:
        raise ConfigError(
            "test-notify: nothing to notify; set SLACK_WEBHOOK_URL or BATCH_CONFIG"
            + (f" (or check --channel {args.channel})" if args.channel else "")
        )
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        paint = _painter(sys.stdout)
        rows = [["", "channel", "outcome"]]
        rows += [[paint("sent", GREEN) if r.ok else paint("FAILED", RED), r.name, r.detail] for r in results]
        print("\n".join(_table(rows)))
    return EXIT_OK if all(r.ok for r in results) else EXIT_DELIVERY


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Like parse_args, but a flag the subcommand does not know is reported with that subcommand's
    usage, not the top-level one."""
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        if args.command == "poll":
            return _poll(args)
        if args.command == "listen":
            return _listen(args)
        if args.command == "check":
            return _check(args)
        if args.command == "test-notify":
            return _test_notify(args)
        if args.command == "silence":
            return _silence(args)
        return _invoke(args)
    except ConfigError as exc:
        print("configuration error:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except DeliveryError as exc:
        print(f"delivery failed: {exc}", file=sys.stderr)
        return EXIT_DELIVERY


if __name__ == "__main__":
    sys.exit(main())
