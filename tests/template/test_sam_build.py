"""The real `sam build`, no Docker: the SAM CLI runs the Makefile targets as it does for a user.

The CLI pins its own boto3, click and cfn-lint, so it lives in a virtualenv of its own under build/
(installed once, about 30 s), never in the project's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.sam_local import sam_build, sam_cli

pytestmark = pytest.mark.build


@pytest.fixture(scope="module")
def sam() -> Path:
    return sam_cli()


@pytest.fixture(scope="module")
def built(sam: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each stack's build directory, by the function it holds."""
    where = tmp_path_factory.mktemp("sam")
    poller = sam_build(sam, where / "build").parent
    return {
        "PollerFunction": poller,
        "SlackActionsFunction": poller,  # built with the poller's stack; opted-in stacks deploy it
        "BatchNotificationsFunction": sam_build(sam, where / "batches", "batch-notifications.yaml").parent,
    }


def functions(template: Path) -> dict[str, dict[str, object]]:
    resources = yaml.safe_load(template.read_text())["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_each_function_is_built_with_its_handler_module(built: dict[str, Path]) -> None:
    for directory in set(built.values()):
        for function, properties in functions(directory / "template.yaml").items():
            module = str(properties["Handler"]).rsplit(".", 1)[0]
            assert (directory / function / (module.replace(".", "/") + ".py")).is_file(), function


def test_artifacts_carry_bytecode_for_the_runtime_and_leave_boto3_to_it(built: dict[str, Path]) -> None:
    for name, directory in built.items():
        artifact = directory / name
        assert (artifact / "sidekiq_watch" / "__pycache__" / "__init__.cpython-313.pyc").is_file(), name
        assert not (artifact / "boto3").exists(), name
