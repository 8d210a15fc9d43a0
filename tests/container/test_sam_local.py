"""Both functions from `sam build`'s artifacts under the real `sam local invoke` and `start-lambda`.

Runs what a user with Docker runs (SAM CLI, its Runtime Interface Emulator, awslambdaric, Python 3.13 on
arm64 under qemu) with the shipped samples, an alert posted to a Slack stand-in, a batch notification
delivered exactly once across two invocations of a warm container, and the stand-in
(`sidekiq-watch invoke`) checked against SAM for the same event and environment.
How the engine, image and networking are made: tests/support/sam_local.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.conftest import EVENTS, ROOT, SECRET_MARK, SUMMARY
from tests.support.real_sidekiq import free_port
from tests.support.sam_local import SamLocal, clean_environment, container_engine, sam_build, sam_cli
from tests.support.servers import Reply, json_reply, local_server

pytestmark = pytest.mark.container

SCHEDULED = EVENTS / "scheduled.json"
BATCH_EVENT = EVENTS / "batch-complete-with-failures.json"
ENV_VARS = EVENTS / "env.json"
TIMES: dict[str, float] = {}


# Under qemu on a shared CI machine a cold batch import took up to 18 s of the function's 30 s; the
# functions' own timeouts are sized for native arm64 (docs/development.md says why they stay). Here a
# timeout would measure the emulator, not the function, so the built template's are raised.
EMULATED_TIMEOUT_SECONDS = 180


def with_emulated_timeouts(template: Path) -> Path:
    text = template.read_text()
    raised = re.sub(r"(?m)^(\s+)Timeout: \d+$", rf"\g<1>Timeout: {EMULATED_TIMEOUT_SECONDS}", text)
    assert raised.count(f"Timeout: {EMULATED_TIMEOUT_SECONDS}") >= 1, "the template's timeouts moved"
    template.write_text(raised)
    return template


@pytest.fixture(scope="module")
def sam_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamLocal]:
    work = tmp_path_factory.mktemp("sam-local")
    sam = sam_cli()
    poller = with_emulated_timeouts(sam_build(sam, work / "build"))
    templates = {
        "PollerFunction": poller,
        "SlackActionsFunction": poller,  # the poller's stack declares it (opt-in)
        "BatchNotificationsFunction": with_emulated_timeouts(
            sam_build(sam, work / "build-batches", "batch-notifications.yaml")
        ),
    }
    with container_engine() as (engine, proxy):
        started = time.monotonic()
        image = engine.ensure_lambda_image()
        TIMES["image (built once, then cached)"] = time.monotonic() - started
        yield SamLocal(sam, templates, proxy, image, home=work / "home")
        assert not proxy.errors, proxy.errors
    SUMMARY.append("real `sam local` (SAM CLI, its emulator, awslambdaric, Python 3.13 arm64 under qemu):")
    SUMMARY.extend(f"  {what}: {seconds:.1f} s" for what, seconds in TIMES.items())


def invoke(sam_local: SamLocal, function: str, event: Path, env_vars: Path) -> tuple[Any, str]:
    """SAM's response and the function's log; no secret in either (secrets here carry SECRET_MARK)."""
    started = time.monotonic()
    result = sam_local.invoke(function, event, env_vars)
    assert SECRET_MARK not in result.stdout + result.stderr
    TIMES.setdefault(f"sam local invoke {function} (cold)", time.monotonic() - started)
    assert result.returncode == 0, result.stderr[-3000:]
    reported = re.search(
        r"REPORT RequestId: \S+\s+Init Duration: \S+ ms\s+Duration: ([0-9.]+) ms", result.stderr
    )
    if reported:
        TIMES.setdefault(f"  {function} inside the container (its REPORT line)", float(reported[1]) / 1000)
    return json.loads(result.stdout), result.stderr


def stand_in(function: str, event: Path, env_vars: Path, home: Path) -> tuple[Any, int]:
    """`sidekiq-watch invoke`, as a user without Docker runs it, given the same environment as SAM."""
    home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sidekiq_watch.cli",
            "invoke",
            function,
            "--event",
            str(event),
            "--env-vars",
            str(env_vars),
        ],
        env=clean_environment(home, PYTHONPATH=os.pathsep.join(sys.path)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return json.loads(result.stdout), result.returncode


def comparable(response: Any) -> Any:
    """A response without what differs between any two runs: times, and the state file's path."""
    text = json.dumps(response)
    text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00| UTC)?", "<time>", text)
    text = re.sub(r"local file [^\"]+", "local file <path>", text)
    return json.loads(text)


def emulator_client(port: int) -> Any:
    """A Lambda client for `sam local start-lambda` on this port: no retries, emulated cold starts."""
    return boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        config=Config(read_timeout=300, retries={"max_attempts": 0}),
    )


def log_so_far(log: Any) -> str:
    """What SAM and the function printed so far, read without moving the offset SAM writes at."""
    return os.pread(log.fileno(), os.fstat(log.fileno()).st_size, 0).decode(errors="replace")


def write_env(path: Path, values: dict[str, dict[str, str]]) -> Path:
    path.write_text(json.dumps(values))
    return path


def test_the_shipped_poller_sample_alerts_under_sam(sam_local: SamLocal, tmp_path: Path) -> None:
    response, logs = invoke(sam_local, "PollerFunction", SCHEDULED, ENV_VARS)
    [target] = response["targets"]
    assert target["target"] == "sample-app"
    assert target["outcome"] == "delivered"
    assert {"rule": "retries > 50", "status": "firing", "value": 60, "severity": "critical"} in target[
        "findings"
    ]
    assert "Slack message (dry run" in logs  # the message went to the log, the response to stdout

    expected, status = stand_in("PollerFunction", SCHEDULED, ENV_VARS, tmp_path / "home")
    assert status == 0
    assert comparable(response) == comparable(expected)


def test_the_shipped_batch_sample_is_delivered_under_sam(sam_local: SamLocal, tmp_path: Path) -> None:
    response, _ = invoke(sam_local, "BatchNotificationsFunction", BATCH_EVENT, ENV_VARS)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["deliveries"] == [
        {"channel": "console", "kind": "print", "status": "delivered", "detail": "printed"}
    ]

    expected, status = stand_in("BatchNotificationsFunction", BATCH_EVENT, ENV_VARS, tmp_path / "home")
    assert status == 0
    assert comparable(response) == comparable(expected)


def test_a_handler_that_raises_answers_as_sam_does(sam_local: SamLocal, tmp_path: Path) -> None:
    env_vars = write_env(
        tmp_path / "env.json", {"PollerFunction": {"SIDEKIQ_STATS_URL": "ftp://sidekiq.example"}}
    )
    response, _ = invoke(sam_local, "PollerFunction", SCHEDULED, env_vars)
    assert set(response) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert "SIDEKIQ_STATS_URL: unsupported scheme 'ftp'" in response["errorMessage"]

    expected, status = stand_in("PollerFunction", SCHEDULED, env_vars, tmp_path / "home")
    assert status == 1  # deliberate: the stand-in's exit status says the invocation failed
    assert set(expected) == set(response)
    assert (expected["errorType"], expected["errorMessage"]) == (
        response["errorType"],
        response["errorMessage"],
    )


def test_an_alert_reaches_a_slack_stand_in_from_sam(sam_local: SamLocal, tmp_path: Path) -> None:
    stats = {"enqueued": 3, "queues": {"default": 3}, "retries": 75, "dead": 0, "processes": 1}
    with (
        local_server(lambda request: json_reply(stats)) as sidekiq,
        local_server(lambda request: Reply(200, b"ok")) as slack,
    ):
        env_vars = write_env(
            tmp_path / "env.json",
            {
                "PollerFunction": {
                    "SIDEKIQ_STATS_URL": f"{sidekiq.url}/stats.json",
                    "SIDEKIQ_SOURCE_NAME": "shop",
                    "SLACK_WEBHOOK_URL": f"{slack.url}/services/T0/B0/{SECRET_MARK}-hook",
                    "STATE_TABLE": "",
                }
            },
        )
        response, _ = invoke(sam_local, "PollerFunction", SCHEDULED, env_vars)
        expected, status = stand_in("PollerFunction", SCHEDULED, env_vars, tmp_path / "home")
    [target] = response["targets"]
    assert target["outcome"] == "delivered", target
    posted, posted_by_stand_in = slack.received
    assert posted.path == f"/services/T0/B0/{SECRET_MARK}-hook"
    assert "retries is 75" in posted.json()["text"]
    assert [request.path for request in sidekiq.received] == ["/stats.json", "/stats.json"]
    # The same message and the same answer from the stand-in, for the same event and variables.
    assert status == 0
    assert comparable(posted_by_stand_in.json()) == comparable(posted.json())
    assert comparable(expected) == comparable(response)


def test_a_batch_is_delivered_once_across_two_calls_of_a_warm_container(
    sam_local: SamLocal, tmp_path: Path
) -> None:
    config = {
        "channels": {"hook": {"type": "webhook", "url": "URL"}},
        "routes": [{"name": "everything", "channels": ["hook"]}],
    }
    port = free_port()
    with local_server(lambda request: Reply(204, b"")) as hook:
        config["channels"]["hook"]["url"] = f"{hook.url}/batches"  # type: ignore[index]
        env_vars = write_env(
            tmp_path / "env.json",
            {
                "BatchNotificationsFunction": {
                    "BATCH_CONFIG": json.dumps(config),
                    "BATCH_AUTH_USERNAME": "sidekiq",  # the template declares Basic's pair, not a token
                    "BATCH_AUTH_PASSWORD": f"{SECRET_MARK}-pw",
                    "DELIVERY_TABLE": "",
                }
            },
        )
        event = json.loads(BATCH_EVENT.read_text())
        credentials = base64.b64encode(f"sidekiq:{SECRET_MARK}-pw".encode()).decode()
        event["headers"]["authorization"] = f"Basic {credentials}"
        with sam_local.start_lambda("BatchNotificationsFunction", env_vars, port) as log:
            client = emulator_client(port)
            answers = []
            for call in ("cold", "warm"):
                started = time.monotonic()
                answer = client.invoke(
                    FunctionName="BatchNotificationsFunction", Payload=json.dumps(event).encode()
                )
                TIMES[f"start-lambda BatchNotificationsFunction ({call})"] = time.monotonic() - started
                answers.append(json.loads(answer["Payload"].read()))
            logged = log_so_far(log)
    assert "START RequestId" in logged  # the functions' output is in it
    assert SECRET_MARK not in logged
    first, second = (json.loads(answer["body"]) for answer in answers)
    assert [d["status"] for d in first["deliveries"]] == ["delivered"], first
    assert [d["status"] for d in second["deliveries"]] == ["already_delivered"], second
    assert len(hook.received) == 1


def test_a_slack_click_silences_and_unsilences_in_a_warm_container(
    sam_local: SamLocal, tmp_path: Path
) -> None:
    """SlackActionsFunction under SAM's emulator: a signed click is answered 200 and its silence
    stored; an Unsilence click in the same container finds and ends it (so it was stored); a forged
    one is 401. No AWS is reachable from the container: the hand-off fails and the update is tried
    inline, both logged, neither leaking the signing secret."""
    from tests.unit.test_slack_actions import click, posted_message

    secret = f"{SECRET_MARK}-signing"
    env_vars = write_env(
        tmp_path / "env.json",
        {"SlackActionsFunction": {"SLACK_SIGNING_SECRET": secret, "STATE_TABLE": "", "STATE_FILE": ""}},
    )

    def event(body: bytes, signature_of: str = secret) -> dict[str, Any]:
        from sidekiq_watch.alerts.slack_actions import signature

        stamp = str(int(time.time()))
        return {
            "version": "2.0",
            "rawPath": "/",
            "headers": {
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": stamp,
                "x-slack-signature": signature(signature_of, stamp, body),
            },
            "requestContext": {"http": {"method": "POST", "path": "/"}},
            "body": body.decode(),
            "isBase64Encoded": False,
        }

    silence = click(posted_message(), "silence_1h")
    port = free_port()
    with sam_local.start_lambda("SlackActionsFunction", env_vars, port) as log:
        client = emulator_client(port)

        def call(payload: dict[str, Any]) -> Any:
            answer = client.invoke(FunctionName="SlackActionsFunction", Payload=json.dumps(payload).encode())
            return json.loads(answer["Payload"].read())

        started = time.monotonic()
        silenced = call(event(silence))
        TIMES["start-lambda SlackActionsFunction (cold)"] = time.monotonic() - started
        forged = call(event(silence, signature_of="not-the-secret"))
        logged = log_so_far(log)
        first_click = next(json.loads(line) for line in logged.splitlines() if '"Slack click"' in line)
        [stored] = first_click["silences"]
        value = json.dumps({"ids": [stored]})
        payload = json.loads(urllib.parse.parse_qs(silence.decode())["payload"][0])
        payload["actions"] = [{"action_id": "unsilence", "value": value, "action_ts": "2.5"}]
        unsilenced = call(event(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()))
        logged = log_so_far(log)
    assert (silenced["statusCode"], forged["statusCode"], unsilenced["statusCode"]) == (200, 401, 200)
    clicks = [json.loads(line) for line in logged.splitlines() if '"Slack click"' in line]
    assert [(c["outcome"], c["silences"]) for c in clicks] == [
        ("silenced", [stored]),
        ("refused: no valid signature, or too old", []),
        ("unsilenced", [stored]),  # found in the container's state: the first click stored it
    ]
    assert "Message update not handed off" in logged
    assert SECRET_MARK not in logged
