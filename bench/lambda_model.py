"""Both functions as Lambda runs them: a CPU share per memory size, init and handler measured apart.

Each function runs from its artifact on the runtime's Python, in a process of its own that only
the handler phase (or, in the pessimistic column, init too) spends inside a cgroup limited to
memory/1,769 of a core (bench/cpu_share.py). Its peers, a moto server for DynamoDB and loopback
servers answering after 200 ms for stats and webhooks, stay outside the cgroup.

Init is shown unthrottled, as published measurements found it (Bite-Sized Serverless, "Lambda Cold
Starts and Bootstrap Code", 2022: init code runs on unthrottled CPU up to 3,008 MB, while the handler
gets its share), and throttled, in case that ever changes. Cost: Lambda bills init for on-demand
functions, so a cold poll is billed init + first invocation. With a 5-minute schedule an environment
may or may not survive until the next poll (AWS keeps idle ones for an unstated 5-15 minutes), so
the monthly bill is shown for both: every poll cold, and every poll warm.

`make bench` runs this; `python bench/lambda_model.py` alone too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import prices
from cold_start import BUILD, build, runtime_python
from common import QUICK, declared, median, moto_with_tables, slow_server, table
from cpu_share import CpuShare, open_share, share_of

# BENCH_SIZES=256,1769 measures only those (a quicker look while tuning).
SIZES = tuple(
    int(size)
    for size in os.environ.get("BENCH_SIZES", "256" if QUICK else "128,256,512,1024,1769").split(",")
)
RUNS = 1 if QUICK else 3
MANY = (1, 10) if QUICK else (1, 200, 1000)
MANY_GOAL, MOST = MANY[1], MANY[2] if len(MANY) > 2 else MANY[1]  # the 200-target and 1,000-target goals
DELAY = 0.2
STATS = {"sidekiq": {"retries": 3, "processes": 1, "enqueued": 0}}
POLLS_A_MONTH = 30 * 24 * 12  # PollEveryMinutes=5
BATCHES_A_MONTH = 1_000


POLLER_MEMORY, POLLER_TIMEOUT = declared("template.yaml", "PollerFunction")
BATCH_MEMORY, _ = declared("batch-notifications.yaml", "BatchNotificationsFunction")
# The goals printed at each size (docs/performance.md: which of them chose each MemorySize).
COLD_POLL_OVER_BOTO3 = 1.5
MANY_OVER_LIMIT = 3.0
THOUSAND_OF_TIMEOUT = 0.25
BATCH_FIRST_ANSWER = 1.0

CHILD = r"""
import json, os, sys, time
out = sys.stdout  # the handler's log lines go here too: a result is the line marked BENCH

def emit(**values):
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    out.write("BENCH " + json.dumps({**values, "rss_mb": hwm / 1024}) + "\n")
    out.flush()

class Context:  # what Lambda passes
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = int(os.environ["BENCH_MEMORY"])
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"; aws_request_id = "r"
    @staticmethod
    def get_remaining_time_in_millis():
        return 60000

kind = sys.argv[1]
sys.stdin.readline()  # the parent has put this process where its init is to run
wall, cpu = time.perf_counter(), time.process_time()
if kind == "boto3":  # the floor: a handler that reads one DynamoDB item
    import boto3
    client = boto3.client("dynamodb")
    def invoke(n):
        client.get_item(TableName="state", Key={"pk": {"S": "bench"}, "sk": {"S": "bench"}})
elif kind == "poller":
    from sidekiq_watch.handlers import poller
    def invoke(n):
        report = poller.handler({}, Context())
        late = [t for t in report["targets"] if t.get("source_error") or t.get("failure")]
        assert not late, late[0]
elif kind == "batches":
    from sidekiq_watch.handlers import batch_webhook
    template = json.load(open(os.environ["BENCH_EVENT"]))
    def invoke(n):  # a new batch each time: never a duplicate
        body = {**json.loads(template["body"]), "bid": f"bench-{os.getpid()}-{n}"}
        result = batch_webhook.handler({**template, "body": json.dumps(body)}, Context())
        assert result["statusCode"] == 200, result
emit(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)
n = 0
for line in sys.stdin:
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        invoke(n)
    except BaseException as exc:
        emit(error=repr(exc)[:300])
        break
    emit(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)
    n += 1
"""


@dataclass(frozen=True)
class Phase:
    wall: float
    cpu: float
    rss_mb: float


@dataclass(frozen=True)
class Life:
    """One process: its init, then each invocation in turn (the first is the cold one)."""

    init: Phase
    invocations: tuple[Phase, ...]

    @property
    def peak_rss(self) -> float:
        return max(p.rss_mb for p in (self.init, *self.invocations))


def _result(process: subprocess.Popen[str]) -> Phase:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("BENCH "):
            found = json.loads(line[6:])
            if "error" in found:
                raise RuntimeError(found["error"])
            return Phase(found["wall"], found["cpu"], found["rss_mb"])
    raise RuntimeError(f"the measured process ended early ({process.wait()})")


def live(
    python: str,
    kind: str,
    env: dict[str, str],
    path: list[Path],
    share: CpuShare | None,
    memory: int,
    *,
    init_throttled: bool,
    invocations: int,
) -> Life:
    """Start the function, init it (throttled or not), then invoke it under its share."""
    process = subprocess.Popen(
        [python, "-s", "-c", CHILD, kind],
        env={
            **env,
            "PYTHONPATH": os.pathsep.join(map(str, path)),
            "PYTHONDONTWRITEBYTECODE": "1",
            "BENCH_MEMORY": str(memory),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_FUNCTION_NAME": kind,  # as Lambda sets it: the handlers prepare at init
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    try:
        if share is not None:
            share.limit(share_of(memory))
            if init_throttled:
                share.admit(process.pid)
        process.stdin.write("init\n")
        process.stdin.flush()
        init = _result(process)
        if share is not None and not init_throttled:
            share.admit(process.pid)
        runs = []
        for _ in range(invocations):
            process.stdin.write("invoke\n")
            process.stdin.flush()
            runs.append(_result(process))
        return Life(init, tuple(runs))
    finally:
        process.stdin.close()
        process.kill()
        process.wait()


def middle(lives: list[Life]) -> Life:
    """Per phase, the median of each figure."""

    def med(phases: list[Phase]) -> Phase:
        return Phase(
            median([p.wall for p in phases]), median([p.cpu for p in phases]), max(p.rss_mb for p in phases)
        )

    return Life(
        med([life.init for life in lives]),
        tuple(med([life.invocations[i] for life in lives]) for i in range(len(lives[0].invocations))),
    )


def monthly(memory: int, seconds: float, count: int) -> float:
    """Lambda's bill for ``count`` invocations of ``seconds`` each (arm64, billed per ms)."""
    gb_seconds = memory / 1024 * (round(seconds * 1000 + 0.5) / 1000) * count
    return gb_seconds * prices.LAMBDA_PER_GB_SECOND_ARM + count / 1e6 * prices.LAMBDA_PER_MILLION_REQUESTS


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def poller_config(url: str, count: int, directory: Path) -> Path:
    """``count`` targets on one loopback server, each its own path (one host, as the bench has one)."""
    path = directory / f"targets-{count}-{url.rsplit(':', 1)[-1]}.json"
    targets = [{"name": f"app{i}", "url": f"{url}/app{i}/stats"} for i in range(count)]
    path.write_text(json.dumps({"targets": targets, "rules": ["retries > 50"]}))
    return path


def main() -> dict[str, Any]:
    python, version = runtime_python()
    runtime = build("lambda-runtime", "runtime", python, version)
    poller = build("build-PollerFunction", "poller", python, version)
    batches = build("build-BatchNotificationsFunction", "batches", python, version)
    lives: dict[tuple[str, int, str], Life] = {}
    with (
        moto_with_tables() as env,
        open_share() as (share, where),
        slow_server(0.0, STATS) as instant,
        slow_server(DELAY, STATS) as url,
    ):
        BUILD.mkdir(parents=True, exist_ok=True)
        hook = BUILD / "model-batches.yaml"
        hook.write_text(f"channels:\n  hook:\n    type: webhook\n    url: {instant}/hook\n")
        batch_env = {
            **env,
            "BATCH_CONFIG": str(hook),
            "DELIVERY_TABLE": "deliveries",
            "BATCH_AUTH_USERNAME": "sidekiq",
            "BATCH_AUTH_PASSWORD": "change-me",
            "BENCH_EVENT": str(HERE.parent / "events" / "batch-success.json"),
        }

        def poller_env(count: int, server: str = url) -> dict[str, str]:
            config = poller_config(server, count, BUILD)
            return {**env, "SIDEKIQ_WATCH_CONFIG": str(config), "STATE_TABLE": "state"}

        functions = {
            "boto3": ("boto3", env, [runtime]),
            "poller": ("poller", poller_env(1, instant), [poller, runtime]),
            "batches": ("batches", batch_env, [batches, runtime]),
        }
        for memory in SIZES:
            for name, (kind, kind_env, path) in functions.items():
                for init in ("free", "throttled"):
                    found = [
                        live(
                            python,
                            kind,
                            kind_env,
                            path,
                            share,
                            memory,
                            init_throttled=init == "throttled",
                            invocations=2,
                        )
                        for _ in range(RUNS)
                    ]
                    lives[(name, memory, init)] = middle(found)
            for count in MANY:
                # Three polls: the first makes the targets' records, the second and third are
                # what every later poll costs (the third's figures are shown).
                lives[(f"poller-{count}", memory, "free")] = live(
                    python,
                    "poller",
                    poller_env(count),
                    [poller, runtime],
                    share,
                    memory,
                    init_throttled=False,
                    invocations=3,
                )
    return report(lives, where, version)


def report(lives: dict[tuple[str, int, str], Life], where: str, version: str) -> dict[str, Any]:
    print(f"Lambda CPU model on Python {version}: the handler phase in {where}, at memory/1,769 of a core;")
    print(
        f"medians of {RUNS} process(es). Init: unthrottled (as published measurements found; the 'init"
        " throttled'"
    )
    print("column if that changes). Cold = init + first invocation. Targets answer after 200 ms.")
    rows = [
        (
            "memory",
            "CPU",
            "function",
            "init",
            "init throttled",
            "1st invocation",
            "warm",
            "cold start",
            "peak RSS",
            "$/month cold",
            "$/month warm",
        )
    ]
    results: dict[str, Any] = {"sizes": {}}
    for memory in SIZES:
        sized: dict[str, Any] = {}
        for name in ("boto3", "poller", "batches"):
            free, throttled = lives[(name, memory, "free")], lives[(name, memory, "throttled")]
            cold = free.init.wall + free.invocations[0].wall
            count = BATCHES_A_MONTH if name == "batches" else POLLS_A_MONTH
            sized[name] = {
                "init": free.init.wall,
                "init_throttled": throttled.init.wall,
                "first": free.invocations[0].wall,
                "warm": free.invocations[1].wall,
                "cold": cold,
                "cold_throttled": throttled.init.wall + throttled.invocations[0].wall,
                "rss_mb": max(free.peak_rss, throttled.peak_rss),
                "month_cold": monthly(memory, cold, count),
                "month_warm": monthly(memory, free.invocations[1].wall, count),
            }
            s = sized[name]
            rows.append(
                (
                    f"{memory} MB",
                    f"{share_of(memory) * 100:.0f}%",
                    name if name != "boto3" else "bare boto3 client",
                    ms(s["init"]),
                    ms(s["init_throttled"]),
                    ms(s["first"]),
                    ms(s["warm"]),
                    ms(s["cold"]),
                    f"{s['rss_mb']:.0f} MB",
                    f"${s['month_cold']:.2f}" if name != "boto3" else "",
                    f"${s['month_warm']:.2f}" if name != "boto3" else "",
                )
            )
        for count in MANY:
            life = lives[(f"poller-{count}", memory, "free")]
            poll = life.invocations[-1]
            sized[f"poller-{count}"] = {
                "poll": poll.wall,
                "cpu_per_target": poll.cpu / count,
                "rss_mb": life.peak_rss,
                "month_warm": monthly(memory, poll.wall, POLLS_A_MONTH),
            }
            s = sized[f"poller-{count}"]
            rows.append(
                (
                    f"{memory} MB",
                    f"{share_of(memory) * 100:.0f}%",
                    f"poller, {count} targets",
                    "",
                    "",
                    "",
                    f"{ms(s['poll'])} ({s['cpu_per_target'] * 1000:.1f} ms CPU/target)",
                    "",
                    f"{s['rss_mb']:.0f} MB",
                    "",
                    f"${s['month_warm']:.2f}",
                )
            )
        results["sizes"][memory] = sized
    print(table(rows))
    print()
    print("Goals at each size:")
    goal_rows = [
        (
            "memory",
            "cold poll / boto3's",
            f"{MANY_GOAL} targets / 0.2 s",
            f"{MOST} targets / timeout",
            "batch 1st answer",
        )
    ]
    for memory, sized in results["sizes"].items():
        ratios = {
            "cold_over_boto3": sized["poller"]["cold"] / sized["boto3"]["cold"],
            "many_over_limit": sized[f"poller-{MANY_GOAL}"]["poll"] / DELAY,
            "most_of_timeout": sized[f"poller-{MOST}"]["poll"] / POLLER_TIMEOUT,
            "batch_first_answer": sized["batches"]["cold"],
        }
        sized["ratios"] = ratios
        goal_rows.append(
            (
                f"{memory} MB",
                f"{ratios['cold_over_boto3']:.2f}x (goal {COLD_POLL_OVER_BOTO3}x)",
                f"{ratios['many_over_limit']:.1f}x (goal {MANY_OVER_LIMIT:.0f}x)",
                f"{ratios['most_of_timeout']:.2f} (goal {THOUSAND_OF_TIMEOUT})",
                f"{ms(ratios['batch_first_answer'])} (goal {BATCH_FIRST_ANSWER:.0f} s)",
            )
        )
    print(table(goal_rows))
    print(
        f"template.yaml declares {POLLER_MEMORY} MB for the poller, batch-notifications.yaml {BATCH_MEMORY} MB for "
        "the batch function: docs/performance.md says which goals chose them."
    )
    return results


if __name__ == "__main__":
    main()
