"""Cold start of each handler in a fresh process, against `python -c pass` and a bare boto3 DynamoDB client.

The boto3 client is the cost no Python Lambda that touches DynamoDB can avoid; the goal is that
a handler's init adds at most 40% on top of it, and that it fits a 128 MB Lambda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import median, slow_server, table

ROOT = Path(__file__).resolve().parent.parent
RUNS = 11
CHILD = r"""
import json, os, sys, time
start = time.perf_counter()
kind = sys.argv[1]
if kind in ("poller", "batches"):  # as the Lambda artifacts ship: without charset_normalizer (see Makefile)
    class _Absent:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "charset_normalizer":
                raise ImportError(name)
    sys.meta_path.insert(0, _Absent())
if kind == "pass":
    pass
elif kind == "boto3":
    import boto3
    boto3.client("dynamodb", region_name="us-east-1")
class Context:  # what Lambda passes; local_invoke's would drag YAML into the measurement
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"; aws_request_id = "r"
    @staticmethod
    def get_remaining_time_in_millis():
        return 60000
if kind == "poller":
    from sidekiq_watch.handlers import poller
    imported = time.perf_counter()
    sys.stdout = open(os.devnull, "w")
    poller.handler({}, Context())
    sys.stdout = sys.__stdout__
elif kind == "batches":
    from sidekiq_watch.handlers import batch_webhook
    imported = time.perf_counter()
    event = json.load(open(os.environ["BENCH_EVENT"]))
    sys.stdout = open(os.devnull, "w")
    result = batch_webhook.handler(event, Context())
    sys.stdout = sys.__stdout__
    assert result["statusCode"] == 200, result
done = time.perf_counter()
loaded = set(sys.modules)
# VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({
    "import": (imported - start) if kind in ("poller", "batches") else done - start,
    "total": done - start,
    "rss_mb": hwm_kb / 1024,
    "pydantic": "pydantic" in loaded, "redis": "redis" in loaded,
}))
"""


def once(kind: str, env: dict[str, str]) -> dict[str, Any]:
    import time

    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind], env=env, capture_output=True, text=True, check=True
    )
    sample: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    sample["process"] = time.perf_counter() - started
    return sample


def medians(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        key: median([s[key] for s in samples]) if isinstance(samples[0][key], float) else samples[0][key]
        for key in samples[0]
    }


def main() -> dict[str, Any]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's request log

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "POWERTOOLS_METRICS_NAMESPACE": "Sidekiq",
    }
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    for name, keys in (("state", [("pk", "HASH"), ("sk", "RANGE")]), ("deliveries", [("id", "HASH")])):
        dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
        )
    config = ROOT / "build" / "bench-batches.yaml"
    config.parent.mkdir(exist_ok=True)
    with slow_server(0.0, {"sidekiq": {"retries": 1, "processes": 1, "enqueued": 0}}) as url:
        config.write_text(f"channels:\n  hook:\n    type: webhook\n    url: {url}/hook\n")
        event = ROOT / "events" / "batch-success.json"
        env_poller = {**env, "SIDEKIQ_STATS_URL": f"{url}/sidekiq/stats", "STATE_TABLE": "state"}
        env_batches = {
            **env,
            "BATCH_CONFIG": str(config),
            "DELIVERY_TABLE": "deliveries",
            "BATCH_AUTH_USERNAME": "sidekiq",
            "BATCH_AUTH_PASSWORD": "change-me",
            "BENCH_EVENT": str(event),
        }
        # Interleaved rounds, so the machine's drift touches every kind alike.
        samples: dict[str, list[dict[str, Any]]] = {
            kind: [] for kind in ("pass", "boto3", "poller", "batches")
        }
        template = json.loads(event.read_text())
        for round_ in range(RUNS):
            samples["pass"].append(once("pass", env))
            samples["boto3"].append(once("boto3", env))
            samples["poller"].append(once("poller", env_poller))
            body = {
                **json.loads(template["body"]),
                "bid": f"bench{round_}-{os.getpid()}",
            }  # new bid: no duplicate
            path = ROOT / "build" / f"bench-event-{round_}.json"
            path.write_text(json.dumps({**template, "body": json.dumps(body)}))
            samples["batches"].append(once("batches", {**env_batches, "BENCH_EVENT": str(path)}))
        results = {kind: medians(found) for kind, found in samples.items()}
    moto.stop()
    # Cold start as Lambda pays it: from the first line of code to the end of the first invocation.
    # Interpreter start-up is the same for all, and process exit is never paid by a Lambda.
    boto_cost = results["boto3"]["total"]
    rows = [
        (
            "process",
            "init (import)",
            "1st invocation",
            "cold start",
            "/ boto3 cost",
            "peak RSS",
            "pydantic loaded",
            "process wall",
        )
    ]
    for kind in ("pass", "boto3", "poller", "batches"):
        r = results[kind]
        handler = kind in ("poller", "batches")
        rows.append(
            (
                kind,
                f"{r['import'] * 1000:.0f} ms" if handler else "",
                f"{(r['total'] - r['import']) * 1000:.0f} ms" if handler else "",
                f"{r['total'] * 1000:.0f} ms",
                f"{r['total'] / boto_cost:.2f}x",
                f"{r['rss_mb']:.0f} MB",
                str(r["pydantic"]),
                f"{r['process'] * 1000:.0f} ms",
            )
        )
    print("Cold start: a fresh process importing the handler and running one invocation against local peers")
    print(f"(moto server for DynamoDB, a loopback stats/webhook server); medians of {RUNS} runs.")
    print("Goal: a handler's cold start at most 1.40x the unavoidable boto3 DynamoDB client; fits 128 MB.")
    print(table(rows))
    results["ratios"] = {k: results[k]["total"] / boto_cost for k in ("poller", "batches")}
    return results


if __name__ == "__main__":
    main()
