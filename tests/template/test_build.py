"""What `sam build` runs (BuildMethod: makefile) yields a python3.13/arm64 artifact, no Docker needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.build


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("artifact")
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "lambda-artifact",
            f"ARTIFACTS_DIR={target}",
            f"PYTHON={sys.executable}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def test_artifact_holds_the_package_and_its_dependencies(artifact: Path) -> None:
    for name in (
        "sidekiq_watch/handlers/poller.py",
        "sidekiq_watch/alerts/default_config.yaml",
        "requests",
        "aws_lambda_powertools",
        "yaml",
    ):
        assert (artifact / name).exists(), name


def test_compiled_dependencies_are_for_python313_on_arm64(artifact: Path) -> None:
    compiled = [p.name for p in artifact.rglob("*.so")]
    assert compiled
    assert all("cpython-313-aarch64-linux-gnu" in name for name in compiled), compiled


def test_what_the_runtime_provides_is_left_out(artifact: Path) -> None:
    assert not (artifact / "boto3").exists()
    assert not (artifact / "botocore").exists()
