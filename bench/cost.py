"""What a month of sidekiq-watch costs, from what one poll and one batch delivery actually do.

One recorded run in-process, against moto (DynamoDB, Secrets Manager) and a Slack stand-in on
127.0.0.1: the AWS calls (and the capacity units their items take), the custom metrics declared
(distinct name and dimensions in the EMF output), the bytes logged and the time taken. Then the
monthly bill for 1, 10 and 50 targets at the default schedule, from bench/prices.py.
`make cost` (also part of `make bench`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import prices
from common import QUICK, declared, slow_server

POLLS_A_MONTH = 30 * 24 * 12  # PollEveryMinutes=5
BATCHES_A_MONTH = 1_000


POLLER_GB = declared("template.yaml", "PollerFunction")[0] / 1024  # docs/performance.md chose it
BATCH_GB = declared("batch-notifications.yaml", "BatchNotificationsFunction")[0] / 1024
# What the in-process run cannot show: the network time of a real poll (stats over TLS, DynamoDB).
NETWORK_SECONDS_A_POLL = 0.25
# Sidekiq Web's /stats: the shape most users poll, with every figure.
STATS = json.loads((HERE.parent / "events" / "stats" / "sidekiq-web-stats.json").read_text())


@dataclass
class Recorded:
    calls: dict[str, int] = field(default_factory=dict)
    write_units: float = 0.0
    read_units: float = 0.0
    metrics: set[tuple[str, str, tuple[tuple[str, str], ...]]] = field(default_factory=set)
    log_bytes: int = 0
    seconds: float = 0.0


@contextlib.contextmanager
def recording(into: Recorded) -> Any:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        name = f"{client.meta.service_model.signing_name}:{operation}"
        into.calls[name] = into.calls.get(name, 0) + 1
        result = original(client, operation, params)
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            into.write_units += math.ceil(len(json.dumps(params, default=str)) / 1024)
        elif operation == "BatchWriteItem":  # each item its own write, rounded up to 1 KB
            for requests in params["RequestItems"].values():
                written = requests if not result.get("UnprocessedItems") else []
                into.write_units += sum(math.ceil(len(json.dumps(r, default=str)) / 1024) for r in written)
        elif operation in ("Query", "GetItem", "Scan"):  # a page's items together, rounded up to 4 KB
            size = len(json.dumps(result.get("Items", result.get("Item", {})), default=str))
            into.read_units += max(1, math.ceil(size / 4096)) * (1.0 if params.get("ConsistentRead") else 0.5)
        return result

    BaseClient._make_api_call = record  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def emf_metrics(output: str) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    found = set()
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    values = tuple(sorted((d, str(blob[d])) for d in dimensions))
                    found.add((directive["Namespace"], metric["Name"], values))
    return found


def run_poll(targets: int, detail: str) -> Recorded:
    """Three polls of ``targets`` targets; the third (steady state: nothing new to announce) is measured."""
    from moto import mock_aws

    stats_url = "data:application/json," + json.dumps(STATS)
    document = {"targets": [{"name": f"app-{i}", "url": stats_url} for i in range(targets)]}
    with mock_aws(), slow_server(0.0) as slack:
        import boto3

        boto3.client("dynamodb").create_table(
            TableName="state",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        os.environ.update(
            SIDEKIQ_WATCH_CONFIG=json.dumps(document),
            STATE_TABLE="state",
            SLACK_WEBHOOK_URL=slack + "/hook",
            PUBLISH_METRICS=detail,
        )
        recorded = Recorded()
        for poll in range(3):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                from sidekiq_watch.handlers import poller
                from sidekiq_watch.local_invoke import FunctionSpec, LocalContext

                if poll == 0:
                    for cached in (poller.current_settings, poller.state_store, poller.http_session):
                        cached.cache_clear()
                poller.logger.registered_handler.setStream(out)  # type: ignore[attr-defined]
                this = Recorded()
                started = time.perf_counter()
                with recording(this):
                    poller.handler({}, LocalContext(FunctionSpec("PollerFunction", "", 60, 256, {}, [])))
                this.seconds = time.perf_counter() - started
            this.metrics = emf_metrics(out.getvalue())
            this.log_bytes = len(out.getvalue().encode())
            recorded = this
        return recorded


def run_batch() -> Recorded:
    from moto import mock_aws

    event = json.loads((HERE.parent / "events" / "batch-complete-with-failures.json").read_text())
    with mock_aws(), slow_server(0.0) as slack:
        import boto3

        boto3.client("dynamodb").create_table(
            TableName="deliveries",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        os.environ.update(
            BATCH_CONFIG=json.dumps({"channels": {"slack": {"webhook_url": slack + "/hook"}}}),
            BATCH_AUTH="none",
            DELIVERY_TABLE="deliveries",
        )
        out = io.StringIO()
        recorded = Recorded()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            from sidekiq_watch.handlers import batch_webhook
            from sidekiq_watch.local_invoke import FunctionSpec, LocalContext

            batch_webhook.logger.registered_handler.setStream(out)  # type: ignore[attr-defined]
            started = time.perf_counter()
            with recording(recorded):
                batch_webhook.handler(event, LocalContext(FunctionSpec("B", "", 30, 256, {}, [])))
            recorded.seconds = time.perf_counter() - started
        recorded.metrics = emf_metrics(out.getvalue())
        recorded.log_bytes = len(out.getvalue().encode())
        return recorded


def default_alarms() -> tuple[int, int]:
    """Alarms each stack creates with default parameters: the poller's, and the batch notifications'."""
    from sidekiq_watch.local_invoke import Resolver, load_template

    def count(name: str, overrides: dict[str, str]) -> int:
        template = load_template(HERE.parent / name)
        resolver = Resolver(template, overrides)
        return sum(
            1
            for resource in template["Resources"].values()
            if resource["Type"] == "AWS::CloudWatch::Alarm"
            and (resource.get("Condition") is None or resolver.condition(resource["Condition"]))
        )

    return count("template.yaml", {"StatsUrl": "https://a.example"}), count("batch-notifications.yaml", {})


def monthly(poll: Recorded, alarms: int) -> dict[str, float]:
    seconds = poll.seconds + NETWORK_SECONDS_A_POLL
    log_gb = poll.log_bytes * POLLS_A_MONTH / 1e9
    return {
        "Lambda": POLLS_A_MONTH
        * (prices.LAMBDA_PER_MILLION_REQUESTS / 1e6 + seconds * POLLER_GB * prices.LAMBDA_PER_GB_SECOND_ARM),
        "DynamoDB": POLLS_A_MONTH
        * (
            poll.write_units * prices.DYNAMODB_PER_MILLION_WRITE_UNITS
            + poll.read_units * prices.DYNAMODB_PER_MILLION_READ_UNITS
        )
        / 1e6,
        "metrics": len(poll.metrics) * prices.CLOUDWATCH_PER_METRIC_MONTH,
        "alarms": alarms * prices.CLOUDWATCH_PER_ALARM_MONTH,
        "logs": log_gb * (prices.LOGS_PER_GB_INGESTED + prices.LOGS_PER_GB_MONTH_STORED),
    }


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="sidekiq-watch-cost-")
    sizes = (1, 3) if QUICK else (1, 10, 50)
    alarms, batch_alarms = default_alarms()
    print(
        f"Monthly cost (prices of {prices.PRICES_AS_OF}, {prices.REGION}; polls every 5 minutes; no free tier)"
    )
    print(
        "targets | metrics declared | DynamoDB WRU/RRU a poll | log KB a poll | Lambda | DynamoDB | metrics | alarms | logs | total | per further target"
    )
    previous: float | None = None
    first_total = 0.0
    for targets in sizes:
        poll = run_poll(targets, "none")
        bill = monthly(poll, alarms)
        total = sum(bill.values())
        if previous is None:
            first_total = total
        per_target = "" if targets == 1 else f"${(total - first_total) / (targets - 1):.3f}"
        print(
            f"{targets} | {len(poll.metrics)} | {poll.write_units:g}/{poll.read_units:g} | {poll.log_bytes / 1024:.1f} | "
            + " | ".join(f"${value:.2f}" for value in bill.values())
            + f" | ${total:.2f} | {per_target}"
        )
        previous = total
    calls = ", ".join(f"{name} {count}" for name, count in sorted(poll.calls.items()))
    print(f"AWS calls in one steady-state poll of {sizes[-1]} targets: {calls}")
    opt_in = run_poll(1, "targets")
    print(
        f"publish_metrics: targets: {len(opt_in.metrics)} metrics a target, "
        f"${len(opt_in.metrics) * prices.CLOUDWATCH_PER_METRIC_MONTH:.2f} a target a month"
    )
    batch = run_batch()
    per_batch = (
        prices.LAMBDA_PER_MILLION_REQUESTS / 1e6
        + (batch.seconds + NETWORK_SECONDS_A_POLL) * BATCH_GB * prices.LAMBDA_PER_GB_SECOND_ARM
        + batch.write_units * prices.DYNAMODB_PER_MILLION_WRITE_UNITS / 1e6
        + batch.read_units * prices.DYNAMODB_PER_MILLION_READ_UNITS / 1e6
        + batch.log_bytes / 1e9 * (prices.LOGS_PER_GB_INGESTED + prices.LOGS_PER_GB_MONTH_STORED)
    )
    fixed = prices.SECRETS_MANAGER_PER_SECRET_MONTH + batch_alarms * prices.CLOUDWATCH_PER_ALARM_MONTH
    print(
        f"Batch notifications' stack: ${fixed:.2f} a month fixed (generated password, {batch_alarms} alarms) "
        f"+ ${per_batch * BATCHES_A_MONTH:.3f} per {BATCHES_A_MONTH:,} batches "
        f"({batch.write_units:g} WRU, {len(batch.metrics)} metrics declared while every channel delivers)"
    )


if __name__ == "__main__":
    main()
