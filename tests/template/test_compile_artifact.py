"""scripts/compile_artifact.py: what the artifacts' bytecode step keeps, removes and refuses."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "compile_artifact.py"


def compile_artifact(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, check=False
    )


def test_dependencies_become_bytecode_only_and_our_package_keeps_its_sources(tmp_path: Path) -> None:
    (tmp_path / "somelib").mkdir()
    (tmp_path / "somelib" / "__init__.py").write_text("")
    (tmp_path / "somelib" / "api.py").write_text("def get():\n    return 'got'\n")
    (tmp_path / "sidekiq_watch").mkdir()
    ours = tmp_path / "sidekiq_watch" / "poll.py"
    ours.write_text("VALUE = 1\n")

    result = compile_artifact(tmp_path)

    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "somelib" / "api.py").exists()
    assert (tmp_path / "somelib" / "api.pyc").exists()
    assert ours.exists()
    assert Path(importlib.util.cache_from_source(str(ours))).exists()
    imported = subprocess.run(
        [sys.executable, "-c", "import somelib.api as a; print(a.get(), a.get.__code__.co_filename)"],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.split() == ["got", "/var/task/somelib/api.py"]


def test_a_module_that_does_not_compile_fails_the_build_and_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "module.py").write_text("def f(:\n")

    result = compile_artifact(tmp_path)

    assert result.returncode == 1
    assert "broken/module.py" in result.stderr
    assert (tmp_path / "broken" / "module.py").exists()  # nothing half-removed
