"""What `sam build` runs (BuildMethod: makefile) yields python3.13/arm64 artifacts, no Docker needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.build


def build(target: str, directory: Path) -> Path:
    result = subprocess.run(
        ["make", "--no-print-directory", target, f"ARTIFACTS_DIR={directory}", f"PYTHON={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return directory


@pytest.fixture(scope="module")
def poller(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("build-PollerFunction", tmp_path_factory.mktemp("poller"))


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("build-BatchNotificationsFunction", tmp_path_factory.mktemp("batches"))


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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_compiled_dependencies_are_for_python313_on_arm64(poller: Path, batches: Path) -> None:
    compiled = [p.name for p in [*poller.rglob("*.so"), *batches.rglob("*.so")]]
    assert compiled
    assert all("cpython-313-aarch64-linux-gnu" in name for name in compiled), compiled


def test_what_the_runtime_provides_is_left_out(poller: Path, batches: Path) -> None:
    for artifact in (poller, batches):
        assert not (artifact / "boto3").exists()
        assert not (artifact / "botocore").exists()


def test_only_the_batch_artifact_carries_pydantic(poller: Path, batches: Path) -> None:
    assert (batches / "pydantic_core").exists()
    assert not (poller / "pydantic").exists()


BLOCK = (
    "import sys, warnings\n"
    "warnings.simplefilter('error')\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in BLOCKED:\n"
    "            raise ImportError('blocked: ' + name)\n"
    "sys.meta_path.insert(0, Block())\n"
)


def test_the_poller_never_imports_pydantic() -> None:
    code = (
        "BLOCKED = ('pydantic', 'pydantic_core')\n"
        + BLOCK
        + "import sidekiq_watch.handlers.poller, sidekiq_watch.cli\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
