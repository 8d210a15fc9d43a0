"""The Makefile's `build` and `deploy` refuse a SAM CLI older than the template needs (issue 24,
item 5), naming the version found, before anything runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT


def fake_sam(tmp_path: Path, answer: str) -> Path:
    sam = tmp_path / "sam"
    sam.write_text(f"#!/bin/sh\necho '{answer}'\n")
    sam.chmod(0o755)
    return sam


@pytest.mark.parametrize(
    ("answer", "accepted"),
    [
        ("SAM CLI, version 1.170.0", True),
        ("SAM CLI, version 1.129.0", True),
        ("SAM CLI, version 2.0.1", True),
        ("SAM CLI, version 1.128.0", False),
        ("SAM CLI, version 1.99.9", False),
        ("something else", False),
    ],
)
def test_an_old_sam_cli_is_refused_naming_its_version(tmp_path: Path, answer: str, accepted: bool) -> None:
    result = subprocess.run(
        ["sh", str(ROOT / "scripts" / "check-sam-version.sh")],
        env={"PATH": "/usr/bin:/bin", "SAM": str(fake_sam(tmp_path, answer))},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) is accepted, result.stderr
    if not accepted:
        assert "1.129.0" in result.stderr
        assert answer.rsplit(" ", 1)[-1] in result.stderr or "cannot tell" in result.stderr


@pytest.mark.parametrize("target", ["build", "deploy"])
def test_make_build_and_deploy_stop_at_an_old_sam_cli(tmp_path: Path, target: str) -> None:
    calls = tmp_path / "calls"
    sam = tmp_path / "sam"
    sam.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\necho 'SAM CLI, version 1.100.0'\n")
    sam.chmod(0o755)
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), target],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SAM CLI 1.100.0 is older than 1.129.0" in result.stderr
    assert calls.read_text().split() == ["--version"]  # nothing built, nothing deployed
