"""The real `sam build`, no Docker: the SAM CLI runs the Makefile targets as it does for a user.

The CLI pins its own boto3, click and cfn-lint, so it lives in a virtualenv of its own under build/
(installed once, about 30 s), never in the project's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.build

SAM_CLI = "aws-sam-cli>=1.120,<2"
SAM_VENV = ROOT / "build" / "sam-cli"


@pytest.fixture(scope="module")
def sam() -> Path:
    executable = SAM_VENV / "bin" / "sam"
    stamp = SAM_VENV / ".installed"
    version = [executable, "--version"]
    runs = executable.exists() and subprocess.run(version, capture_output=True).returncode == 0
    if not (runs and stamp.exists() and stamp.read_text() == SAM_CLI):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(SAM_VENV)], check=True)
        subprocess.run(
            [str(SAM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", SAM_CLI], check=True
        )
        stamp.write_text(SAM_CLI)
    return executable


@pytest.fixture(scope="module")
def built(sam: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    result = subprocess.run(
        [str(sam), "build", "--parallel", "--build-dir", str(build_dir)],
        cwd=ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Build Succeeded" in result.stdout
    return build_dir


def functions(template: Path) -> dict[str, dict[str, object]]:
    resources = yaml.safe_load(template.read_text())["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_each_function_is_built_with_its_handler_module(built: Path) -> None:
    built_functions = functions(built / "template.yaml")
    assert set(built_functions) == {"PollerFunction", "BatchNotificationsFunction"}
    for name, properties in built_functions.items():
        module = str(properties["Handler"]).rsplit(".", 1)[0]
        assert (built / name / (module.replace(".", "/") + ".py")).is_file(), name


def test_artifacts_carry_bytecode_for_the_runtime_and_leave_boto3_to_it(built: Path) -> None:
    for name in ("PollerFunction", "BatchNotificationsFunction"):
        artifact = built / name
        assert (artifact / "sidekiq_watch" / "__pycache__" / "__init__.cpython-313.pyc").is_file(), name
        assert not (artifact / "boto3").exists(), name
