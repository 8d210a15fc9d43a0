"""What `sam build` runs (BuildMethod: makefile) yields python3.13/arm64 artifacts, no Docker needed."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EVENTS, ROOT
from tests.support.sam_local import lambda_python

pytestmark = pytest.mark.build
RUNTIME_VERSION = "3.13"  # template.yaml's python3.13
# Wheels for this machine's CPU instead of the Lambda's, so that a build can run here.
FOR_THIS_MACHINE = f"LAMBDA_PLATFORM=manylinux2014_{platform.machine()}"


@pytest.fixture(scope="module")
def runtime_python() -> str:
    """The Lambda runtime's Python, found or fetched as `make lambda-artifact` does (the builds use it)."""
    return lambda_python(RUNTIME_VERSION)


def build(target: str, directory: Path, *extra: str) -> Path:
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            target,
            f"ARTIFACTS_DIR={directory}",
            f"PYTHON={sys.executable}",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return directory


@pytest.fixture(scope="module")
def poller(tmp_path_factory: pytest.TempPathFactory, runtime_python: str) -> Path:
    return build("build-PollerFunction", tmp_path_factory.mktemp("poller"))


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory, runtime_python: str) -> Path:
    return build("build-BatchNotificationsFunction", tmp_path_factory.mktemp("batches"))


@pytest.fixture(scope="module")
def batches_for_this_machine(tmp_path_factory: pytest.TempPathFactory, runtime_python: str) -> Path:
    """The batch artifact with pydantic-core's wheel for this machine's CPU, so it can run here."""
    return build(
        "build-BatchNotificationsFunction", tmp_path_factory.mktemp("batches-here"), FOR_THIS_MACHINE
    )


@pytest.fixture(scope="module")
def runtime_packages(tmp_path_factory: pytest.TempPathFactory, runtime_python: str) -> Path:
    """boto3 as the Lambda runtime provides it, compiled."""
    return build("lambda-runtime", tmp_path_factory.mktemp("runtime"), FOR_THIS_MACHINE)


def assert_runs(code: str, **options: Any) -> None:
    """Runs code on this Python in a fresh process and fails with its stderr unless it succeeds."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, **options
    )
    assert result.returncode == 0, result.stderr


def run_on_runtime_python(
    python: str, path: list[Path], code: str, env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """As Lambda runs it: the artifact first on the path, then the runtime's, nothing of this checkout."""
    return subprocess.run(
        [python, "-s", "-c", code],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": os.pathsep.join(map(str, path)),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "AWS_REGION": "us-east-1",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )


def test_poller_artifact_holds_the_package_and_its_dependencies(poller: Path) -> None:
    for name in (
        "sidekiq_watch/handlers/poller.py",
        "sidekiq_watch/alerts/default_config.json",
        "requests",
        "aws_lambda_powertools",
        "yaml",
    ):
        assert (poller / name).exists(), name


def test_yaml_loads_without_its_c_speedup(poller: Path) -> None:
    assert not list((poller / "yaml").glob("_yaml*.so"))
    code = (
        "import sys\n"
        "sys.modules['yaml._yaml'] = None\n"
        "import yaml\n"
        "assert yaml.safe_load('a: [1]') == {'a': [1]}\n"
    )
    assert_runs(code)


def test_compiled_dependencies_are_for_python313_on_arm64(poller: Path, batches: Path) -> None:
    compiled = [p.name for p in [*poller.rglob("*.so"), *batches.rglob("*.so")]]
    assert compiled
    assert all("cpython-313-aarch64-linux-gnu" in name for name in compiled), compiled


def test_two_builds_at_once_in_this_tree_ship_only_what_src_holds(
    tmp_path: Path, runtime_python: str
) -> None:
    """As `sam build --build-in-source --parallel` runs them; setuptools' build/lib may hold a
    module long deleted from src/, which must not come back."""
    stale = ROOT / "build" / "lib" / "sidekiq_watch" / "deleted_long_ago.py"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("raise ImportError('a module deleted from src/')\n")
    try:
        builds = [
            subprocess.Popen(
                [
                    "make",
                    "--no-print-directory",
                    target,
                    f"ARTIFACTS_DIR={tmp_path / target}",
                    f"PYTHON={sys.executable}",
                    "LAMBDA_BYTECODE=no",
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for target in ("build-PollerFunction", "build-BatchNotificationsFunction")
        ]
        outputs = [build.communicate()[0] for build in builds]
    finally:
        stale.unlink()
    for build, output in zip(builds, outputs, strict=True):
        assert build.returncode == 0, output
    for target in ("build-PollerFunction", "build-BatchNotificationsFunction"):
        package = tmp_path / target / "sidekiq_watch"
        assert (package / "handlers" / "poller.py").is_file()
        assert not (package / "deleted_long_ago.py").exists()


def test_what_the_runtime_provides_is_left_out(poller: Path, batches: Path) -> None:
    for artifact in (poller, batches):
        assert not (artifact / "boto3").exists()
        assert not (artifact / "botocore").exists()


def test_only_the_batch_artifact_carries_pydantic(poller: Path, batches: Path) -> None:
    assert (batches / "pydantic_core").exists()
    assert not (poller / "pydantic").exists()


def test_only_the_poller_artifact_carries_redis(poller: Path, batches: Path) -> None:
    assert (poller / "redis").exists()
    assert not (batches / "redis").exists()


def test_the_batch_function_never_imports_redis() -> None:
    code = "BLOCKED = ('redis',)\n" + BLOCK + "import sidekiq_watch.handlers.batch_webhook\n"
    assert_runs(code)


CONTEXT = (  # what Lambda passes, for code run in a subprocess
    "class Context:\n"
    "    function_name = 'function'; memory_limit_in_mb = 128; aws_request_id = 'r'\n"
    "    invoked_function_arn = 'arn:aws:lambda:us-east-1:123456789012:function:function'\n"
    "    def get_remaining_time_in_millis(self): return 60000\n"
)
BLOCK = (
    "import sys, warnings\n"
    "warnings.simplefilter('error')\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in BLOCKED:\n"
    "            raise ImportError('blocked: ' + name)\n"
    "sys.meta_path.insert(0, Block())\n"
)


def test_only_the_batch_artifact_carries_powertools_event_handler(poller: Path, batches: Path) -> None:
    assert (batches / "aws_lambda_powertools" / "event_handler").is_dir()
    assert not (poller / "aws_lambda_powertools" / "event_handler").exists()
    assert (poller / "aws_lambda_powertools" / "logging").is_dir()  # the rest of Powertools is kept


def test_the_poller_and_slack_actions_never_import_powertools_event_handler() -> None:
    code = (
        "BLOCKED = ('aws_lambda_powertools.event_handler',)\n"
        + BLOCK.replace("name.split('.')[0] in BLOCKED", "name.startswith(BLOCKED)")
        + "import sidekiq_watch.handlers.poller, sidekiq_watch.handlers.slack_actions\n"
    )
    assert_runs(code)


def test_the_poller_never_imports_pydantic() -> None:
    code = (
        "BLOCKED = ('pydantic', 'pydantic_core')\n"
        + BLOCK
        + "import sidekiq_watch.handlers.poller, sidekiq_watch.cli\n"
    )
    assert_runs(code)


def test_the_pollers_default_path_imports_no_redis_yaml_pydantic_or_boto3(tmp_path: Path) -> None:
    """A stats file, local state, the bundled rules, a printed message: none of those is needed."""
    code = (
        "BLOCKED = ('redis', 'yaml', 'pydantic', 'boto3', 'botocore')\n" + BLOCK + "import json\n"
        "from sidekiq_watch.handlers import poller\n"
        + CONTEXT
        + f"report = poller.handler(json.load(open({str(EVENTS / 'scheduled.json')!r})), Context())\n"
        "assert report['targets'][0]['findings'][0]['status'] == 'firing', report\n"
    )
    assert_runs(
        code,
        cwd=ROOT,
        env={
            **os.environ,
            "SIDEKIQ_STATS_URL": "events/stats/handwritten.json",
            "XDG_STATE_HOME": str(tmp_path),
        },
    )


def test_the_batch_function_never_imports_the_pollers_alert_code() -> None:
    code = (
        "BLOCKED = ('sidekiq_watch.alerts',)\n"
        + BLOCK.replace("name.split('.')[0] in BLOCKED", "name.startswith(BLOCKED)")
        + "import sidekiq_watch.handlers.batch_webhook\n"
    )
    assert_runs(code)


def test_http_works_without_charset_normalizer_as_the_artifacts_ship(poller: Path) -> None:
    assert not (poller / "charset_normalizer").exists()
    code = (
        "BLOCKED = ('charset_normalizer', 'chardet')\n"
        + BLOCK
        + "import sidekiq_watch.http as h\nimport responses\n"
        "with responses.RequestsMock() as mock:\n"
        "    mock.get('https://x.example/s', body=b'{}')\n"
        "    reply = h.send(h.new_session(), 'GET', 'https://x.example/s', location='x', timeout=1)\n"
        "    assert reply.body == b'{}'\n"
    )
    assert_runs(code)


def magic_and_flags(pyc: Path) -> tuple[bytes, int]:
    header = pyc.read_bytes()[:8]
    return header[:4], int.from_bytes(header[4:8], "little")


def test_dependencies_ship_as_bytecode_for_the_runtimes_python(
    poller: Path, batches: Path, runtime_python: str
) -> None:
    magic = subprocess.run(
        [runtime_python, "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for artifact in (poller, batches):
        sources = [p for p in artifact.rglob("*.py") if p.relative_to(artifact).parts[0] != "sidekiq_watch"]
        assert sources == []
        pyc = artifact / "requests" / "adapters.pyc"
        # Hash-based and unchecked (flags 0b01): the zip's timestamps cannot make Python recompile.
        assert magic_and_flags(pyc) == (bytes.fromhex(magic), 0b01)


def test_our_package_keeps_its_sources_beside_the_bytecode(poller: Path) -> None:
    tag = "cpython-" + RUNTIME_VERSION.replace(".", "")
    for source in (poller / "sidekiq_watch").rglob("*.py"):
        assert (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").exists(), source


def test_the_poller_artifact_runs_its_handler_on_the_runtimes_python(
    poller: Path, runtime_python: str, tmp_path: Path
) -> None:
    code = (
        "import json, sys\n"
        "from sidekiq_watch.handlers import poller\n"
        "import requests.adapters\n"
        + CONTEXT
        + f"result = poller.handler(json.load(open({str(EVENTS / 'scheduled.json')!r})), Context())\n"
        "print('RESULT', json.dumps(result))\n"
        "print('LOADED', poller.__file__, requests.adapters.__spec__.origin,\n"
        "      requests.adapters.HTTPAdapter.send.__code__.co_filename, 'boto3' in sys.modules)\n"
    )
    env = {"SIDEKIQ_STATS_URL": "events/stats/handwritten.json", "SIDEKIQ_SOURCE_NAME": "sample-app"}
    result = run_on_runtime_python(runtime_python, [poller], code, env, tmp_path)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    report = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :])
    (target,) = report["targets"]
    assert target["findings"][0] == {
        "rule": "retries > 50",
        "status": "firing",
        "value": 60,
        "severity": "critical",
    }
    assert target["notices"][0] == {"rule": "retries > 50", "notice": "firing"}
    assert "retries" in result.stdout.split("RESULT ")[0]  # the Slack message, printed (no webhook)
    loaded = next(line for line in lines if line.startswith("LOADED ")).split()[1:]
    assert loaded[0] == str(poller / "sidekiq_watch" / "handlers" / "poller.py")
    assert loaded[1] == str(poller / "requests" / "adapters.pyc")
    assert loaded[2] == "/var/task/requests/adapters.py"  # what a traceback names on Lambda
    assert loaded[3] == "False"  # local state: boto3 is never imported


def test_the_batch_artifact_runs_its_handler_on_the_runtimes_python(
    batches_for_this_machine: Path, runtime_packages: Path, runtime_python: str, tmp_path: Path
) -> None:
    code = (
        "import json\n"
        "from sidekiq_watch.handlers import batch_webhook\n"
        + CONTEXT
        + f"event = json.load(open({str(EVENTS / 'batch-success.json')!r}))\n"
        "print('RESULT', json.dumps(batch_webhook.handler(event, Context())))\n"
    )
    env = {
        "BATCH_CONFIG": "events/batch-config.yaml",
        "BATCH_AUTH_USERNAME": "sidekiq",
        "BATCH_AUTH_PASSWORD": "change-me",
    }
    result = run_on_runtime_python(
        runtime_python, [batches_for_this_machine, runtime_packages], code, env, tmp_path
    )

    assert result.returncode == 0, result.stderr
    reply = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert reply["statusCode"] == 200, reply
    assert json.loads(reply["body"])["deliveries"] == [
        {"channel": "console", "kind": "print", "status": "delivered", "detail": "printed"}
    ]
