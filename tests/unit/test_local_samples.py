"""The shipped samples work where `sam local invoke` runs them: from /var/task, where events/ does not
exist; and the stand-in (`sidekiq-watch invoke`) answers as SAM does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS, ROOT

TEMPLATES = {
    "PollerFunction": ROOT / "template.yaml",
    "BatchNotificationsFunction": ROOT / "batch-notifications.yaml",
}
ENV_VARS = EVENTS / "env.json"


def stand_in(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`sidekiq-watch invoke` in a fresh process, from a directory without the repository's files."""
    code = "import sys; from sidekiq_watch.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "invoke", *args, "--template", str(TEMPLATES[args[0]])],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_poller_sample_works_from_anywhere(tmp_path: Path) -> None:
    run = stand_in(
        "PollerFunction", "--event", str(EVENTS / "scheduled.json"), "--env-vars", str(ENV_VARS), cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)  # stdout is the response alone, as with SAM
    [target] = report["targets"]
    assert target["figures"]["retries"] == 60
    assert target["source_error"] is None
    assert "dynamodb" not in run.stderr.lower()  # STATE_TABLE is not the logical id left unresolved


def test_the_batch_sample_works_from_anywhere(tmp_path: Path) -> None:
    run = stand_in(
        "BatchNotificationsFunction",
        "--event",
        str(EVENTS / "batch-complete-with-failures.json"),
        "--env-vars",
        str(ENV_VARS),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    response = json.loads(run.stdout)
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["deliveries"][0]["status"] in ("delivered", "already_delivered")


def test_the_sample_state_file_is_settable(tmp_path: Path) -> None:
    env_vars = json.loads(ENV_VARS.read_text())
    env_vars["PollerFunction"]["STATE_FILE"] = str(tmp_path / "state.json")
    custom = tmp_path / "env.json"
    custom.write_text(json.dumps(env_vars))
    run = stand_in(
        "PollerFunction", "--event", str(EVENTS / "scheduled.json"), "--env-vars", str(custom), cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "state.json").exists()


def test_a_failing_handler_answers_in_sams_error_shape(tmp_path: Path) -> None:
    env_vars = {"PollerFunction": {"SIDEKIQ_STATS_URL": "", "STATE_TABLE": ""}}
    path = tmp_path / "env.json"
    path.write_text(json.dumps(env_vars))
    run = stand_in(
        "PollerFunction", "--event", str(EVENTS / "scheduled.json"), "--env-vars", str(path), cwd=tmp_path
    )
    error: dict[str, Any] = json.loads(run.stdout)
    # awslambdaric's shape (seen under the real `sam local invoke`: tests/container/), request id included.
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert re.fullmatch(r"[0-9a-f-]{36}", error["requestId"])
    assert error["errorType"] == "ConfigError"
    assert "SIDEKIQ_STATS_URL" in error["errorMessage"]


def test_the_shell_overrides_the_template_and_env_vars_override_the_shell(tmp_path: Path) -> None:
    """SAM's order: the template's value, then the shell's, then --env-vars."""
    env_vars = json.loads(ENV_VARS.read_text())
    del env_vars["PollerFunction"]["SIDEKIQ_SOURCE_NAME"]
    env_vars["PollerFunction"]["RETRY_THRESHOLD"] = "10"
    path = tmp_path / "env.json"
    path.write_text(json.dumps(env_vars))
    shell = {"SIDEKIQ_SOURCE_NAME": "from-the-shell", "RETRY_THRESHOLD": "1000", "UNDECLARED": "x"}
    run = stand_in(
        "PollerFunction",
        "--event",
        str(EVENTS / "scheduled.json"),
        "--env-vars",
        str(path),
        cwd=tmp_path,
        env=shell,
    )
    [target] = json.loads(run.stdout)["targets"]
    assert target["target"] == "from-the-shell"
    assert [f["status"] for f in target["findings"] if f["rule"].startswith("retries")] == [
        "firing"
    ]  # 60 > 10


def test_the_context_and_region_look_as_under_sam(monkeypatch: pytest.MonkeyPatch) -> None:
    from sidekiq_watch.local_invoke import FunctionSpec, LocalContext, lambda_environment

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    spec = FunctionSpec("PollerFunction", "h.h", 60, 256, {}, [])
    assert LocalContext(spec).memory_limit_in_mb == "256"
    environment = lambda_environment(spec)
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"]
