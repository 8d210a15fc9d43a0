"""Batch fan-out: 10 channels answering after 300 ms (limit 0.3 s), and 1,000 webhook deliveries
through the handler with moto-backed exactly-once records (10% duplicates)."""

from __future__ import annotations

import base64
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Context, median, percentile, sized, slow_server, table

ROOT = Path(__file__).resolve().parent.parent
DELAY = 0.3
DELIVERIES = sized(1000, 20)


def one_notification(url: str, tmp: Path) -> float:
    from sidekiq_watch.batches.config import parse_batch_config
    from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
    from sidekiq_watch.batches.fanout import fan_out
    from sidekiq_watch.batches.payload import BatchEvent, BatchStatus
    from sidekiq_watch.channels import Resources

    channels = {f"hook{i}": {"type": "webhook", "url": f"{url}/hook{i}"} for i in range(10)}
    [route] = parse_batch_config({"channels": channels}, "bench").routes
    times = []
    for run in range(sized(5, 1)):
        log = DeliveryLog(lambda path=tmp / f"fanout-{run}.json": LocalFilePersistenceLayer(path))
        event = BatchEvent(BatchStatus(bid=f"fan{run}", total=1, failures=0, pending=0), "success")
        started = time.perf_counter()
        outcomes = fan_out(event, route.channels, Resources(timeout=5), log)
        times.append(time.perf_counter() - started)
        assert all(o.status == "delivered" for o in outcomes), outcomes
    return median(times)


def many_deliveries(url: str, tmp: Path, count: int) -> dict[str, Any]:
    from moto import mock_aws

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
    )
    config = tmp / "batches.yaml"
    config.write_text(f"channels:\n  hook:\n    type: webhook\n    url: {url}/hook\n")
    template = json.loads((ROOT / "events" / "batch-success.json").read_text())
    auth = "Basic " + base64.b64encode(b"sidekiq:pw").decode()
    with mock_aws():
        import boto3

        boto3.client("dynamodb").create_table(
            TableName="deliveries",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        )
        os.environ.update(
            BATCH_CONFIG=str(config),
            DELIVERY_TABLE="deliveries",
            BATCH_AUTH_USERNAME="sidekiq",
            BATCH_AUTH_PASSWORD="pw",
        )
        from sidekiq_watch.handlers import batch_webhook

        rng = random.Random(7)
        bids = [f"bid{i}" for i in range(int(count * 0.9))]
        sequence = bids + [rng.choice(bids) for _ in range(count - len(bids))]
        rng.shuffle(sequence)
        latencies, statuses = [], []
        devnull, saved = os.open(os.devnull, os.O_WRONLY), os.dup(1)
        os.dup2(devnull, 1)  # the handler's JSON logs still cost their formatting, not the terminal
        started = time.perf_counter()
        try:
            for bid in sequence:
                body = {**json.loads(template["body"]), "bid": bid}
                event = {
                    **template,
                    "body": json.dumps(body),
                    "headers": {**template["headers"], "authorization": auth},
                }
                t0 = time.perf_counter()
                result = batch_webhook.handler(event, Context())
                latencies.append(time.perf_counter() - t0)
                statuses.append(json.loads(result["body"])["deliveries"][0]["status"])
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
        elapsed = time.perf_counter() - started
    delivered = statuses.count("delivered")
    assert delivered == len(bids), (delivered, len(bids))
    return {
        "throughput": count / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "delivered": delivered,
        "duplicates": statuses.count("already_delivered"),
    }


def main() -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as directory, slow_server(DELAY) as slow, slow_server(0.0) as fast:
        tmp = Path(directory)
        one = one_notification(slow, tmp)
        many = many_deliveries(fast, tmp, DELIVERIES)
    print(
        f"Fan-out: 10 channels each answering after {DELAY * 1000:.0f} ms (goal: under 0.45 s; limit 0.3 s)"
    )
    print(
        table([("one notification to 10 channels", "/ 0.3 s limit"), (f"{one:.3f} s", f"{one / DELAY:.2f}x")])
    )
    print(
        f"\n{DELIVERIES:,} webhook deliveries through the handler (10% duplicates), records in moto DynamoDB"
        " (in-process)"
    )
    print(
        table(
            [
                ("throughput", "p50", "p99", "delivered", "duplicates not re-sent"),
                (
                    f"{many['throughput']:.0f}/s",
                    f"{many['p50'] * 1000:.1f} ms",
                    f"{many['p99'] * 1000:.1f} ms",
                    str(many["delivered"]),
                    str(many["duplicates"]),
                ),
            ]
        )
    )
    return {"one": one, **many}


if __name__ == "__main__":
    main()
