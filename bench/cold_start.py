"""Cold start of each handler as Lambda runs it, against `python -c pass` and a bare boto3 DynamoDB client.

Each handler runs from its artifact, built by the Makefile targets `sam build` calls, on the Lambda
runtime's Python (3.13, found or fetched by scripts/lambda-python.sh), with boto3 beside it as the
runtime provides it, and no bytecode written (Lambda's /var/task is read-only). The boto3 client is
the cost no Python Lambda that touches DynamoDB can avoid; the goal is that a handler's cold start is
at most 1.40x it, and that it fits a 128 MB Lambda. The batch function's libraries alone exceed that,
so it is held to 1.40x of them (README, Performance). Artifacts shipped as sources only are measured
too: what every cold start paid before the build compiled them.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import QUICK, median, moto_with_tables, sized, slow_server, table

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"
RUNS = sized(11, 1)
RUNTIME_VERSION = "3.13"
CHILD = r"""
import json, os, sys, time
start = time.perf_counter()
kind = sys.argv[1]
libraries = kind.endswith("-libraries")  # a floor: what a handler's libraries cost before any of our code
if kind == "boto3" or libraries:
    import boto3
    boto3.client("dynamodb", region_name="us-east-1")
if libraries:  # what both handlers stand on
    import requests
    requests.Session()
    from aws_lambda_powertools import Logger, Metrics
    Logger(); Metrics()
if kind.startswith("batches") and libraries:  # the batch function's exactly-once records
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function
if kind == "batches-libraries":  # and what its design asks for: Event Handler, Parser (pydantic)
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver
    LambdaFunctionUrlResolver()
    from pydantic import BaseModel
    class Status(BaseModel):
        bid: str
        total: int | None = None
    Status.model_validate({"bid": "b", "total": 1})
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


def once(python: str, kind: str, env: dict[str, str], path: list[Path]) -> dict[str, Any]:
    import time

    started = time.perf_counter()
    out = subprocess.run(
        [python, "-s", "-c", CHILD, kind.split()[0] if " " in kind else kind],
        env={
            **env,
            "PYTHONPATH": os.pathsep.join(map(str, path)),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_LAMBDA_FUNCTION_NAME": kind.split()[0],  # as Lambda sets it: the handlers prepare at init
        },
        capture_output=True,
        text=True,
        check=True,
    )
    sample: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    sample["process"] = time.perf_counter() - started
    return sample


def medians(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        key: median([s[key] for s in samples]) if isinstance(samples[0][key], float) else samples[0][key]
        for key in samples[0]
    }


def runtime_python() -> tuple[str, str]:
    """The Lambda runtime's Python if it can be had here, else this one (said in the output)."""
    found = subprocess.run(
        ["sh", "scripts/lambda-python.sh", RUNTIME_VERSION], cwd=ROOT, capture_output=True, text=True
    )
    if found.returncode == 0:
        return found.stdout.strip(), RUNTIME_VERSION
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(f"note: no Python {RUNTIME_VERSION} ({found.stderr.strip()}); measuring on Python {host}")
    return sys.executable, host


def build(target: str, name: str, python: str, version: str, *settings: str) -> Path:
    """One Makefile target, for this machine's CPU (the Lambda's own wheels would not load here)."""
    directory = BUILD / name
    subprocess.run(["rm", "-rf", str(directory)], check=True)
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            target,
            f"ARTIFACTS_DIR={directory}",
            f"PYTHON={sys.executable}",
            f"LAMBDA_PYTHON_VERSION={version}",
            f"LAMBDA_PLATFORM=manylinux2014_{platform.machine()}",
            *settings,
        ],
        cwd=ROOT,
        env={**os.environ, "LAMBDA_PYTHON": python},
        check=True,
        capture_output=True,
    )
    return directory


KINDS = (
    "pass",
    "boto3",
    "poller-libraries",
    "poller",
    "batches-lean-libraries",
    "batches-libraries",
    "batches",
    "poller sources only",
    "batches sources only",
)
if QUICK:  # two builds fewer
    KINDS = tuple(kind for kind in KINDS if not kind.endswith("sources only"))


def floor_of(kind: str) -> str:
    """The libraries a handler cannot run without, measured alone: what its own code is compared to."""
    return f"{kind.split()[0]}-libraries"


def main() -> dict[str, Any]:
    python, version = runtime_python()
    runtime = build("lambda-runtime", "runtime", python, version)
    poller = build("build-PollerFunction", "poller", python, version)
    batches = build("build-BatchNotificationsFunction", "batches", python, version)
    path_of = {
        "pass": [],
        "boto3": [runtime],
        "poller-libraries": [poller, runtime],
        "poller": [poller, runtime],
        "batches-lean-libraries": [batches, runtime],
        "batches-libraries": [batches, runtime],
        "batches": [batches, runtime],
    }
    for kind in KINDS:
        if kind.endswith("sources only"):
            function = "PollerFunction" if kind.startswith("poller") else "BatchNotificationsFunction"
            name = f"{kind.split()[0]}-sources"
            sources = build(f"build-{function}", name, python, version, "LAMBDA_BYTECODE=no")
            path_of[kind] = [sources, runtime]
    config = BUILD / "batches.yaml"
    with (
        moto_with_tables() as env,
        slow_server(0.0, {"sidekiq": {"retries": 1, "processes": 1, "enqueued": 0}}) as url,
    ):
        config.write_text(f"channels:\n  hook:\n    type: webhook\n    url: {url}/hook\n")
        event = ROOT / "events" / "batch-success.json"
        env_poller = {**env, "SIDEKIQ_STATS_URL": f"{url}/sidekiq/stats", "STATE_TABLE": "state"}
        env_batches = {
            **env,
            "BATCH_CONFIG": str(config),
            "DELIVERY_TABLE": "deliveries",
            "BATCH_AUTH_USERNAME": "sidekiq",
            "BATCH_AUTH_PASSWORD": "change-me",
        }
        # Interleaved rounds, so the machine's drift touches every kind alike.
        samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        template = json.loads(event.read_text())
        for round_ in range(RUNS):
            for kind in KINDS:
                kind_env = env
                if kind.endswith("-libraries"):
                    pass
                elif kind.startswith("poller"):
                    kind_env = env_poller
                elif kind.startswith("batches"):
                    body = {**json.loads(template["body"]), "bid": f"bench{round_}-{kind[-4:]}-{os.getpid()}"}
                    path = BUILD / f"event-{round_}.json"  # a new bid each time: never a duplicate
                    path.write_text(json.dumps({**template, "body": json.dumps(body)}))
                    kind_env = {**env_batches, "BENCH_EVENT": str(path)}
                samples[kind].append(once(python, kind, kind_env, path_of[kind]))
        results = {kind: medians(found) for kind, found in samples.items()}
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
            "/ its libraries",
            "peak RSS",
            "pydantic loaded",
            "process wall",
        )
    ]
    for kind in KINDS:
        r = results[kind]
        handler = kind.startswith(("poller", "batches")) and not kind.endswith("-libraries")
        rows.append(
            (
                kind,
                f"{r['import'] * 1000:.0f} ms" if handler else "",
                f"{(r['total'] - r['import']) * 1000:.0f} ms" if handler else "",
                f"{r['total'] * 1000:.0f} ms",
                f"{r['total'] / boto_cost:.2f}x",
                f"{r['total'] / results[floor_of(kind)]['total']:.2f}x" if handler else "",
                f"{r['rss_mb']:.0f} MB",
                str(r["pydantic"]),
                f"{r['process'] * 1000:.0f} ms",
            )
        )
    print(f"Cold start on Python {version}: a fresh process importing the handler from its artifact and")
    print("running one invocation against local peers (moto server for DynamoDB, a loopback stats/webhook")
    print(
        f"server); medians of {RUNS} run(s). Goal: at most 1.40x the unavoidable boto3 client; fits 128 MB."
    )
    print("The batch function's required libraries alone exceed that (batches-libraries), so its goal is")
    print("at most 1.40x its libraries: the README's Performance section says why. batches-lean-libraries")
    print("is what it would stand on without Event Handler and pydantic.")
    print(table(rows))
    results["ratios"] = {
        k: results[k]["total"] / boto_cost for k in KINDS if k.startswith(("poller", "batches"))
    }
    results["over_libraries"] = {
        k: results[k]["total"] / results[floor_of(k)]["total"]
        for k in KINDS
        if k.startswith(("poller", "batches")) and not k.endswith("-libraries")
    }
    return results


if __name__ == "__main__":
    main()
