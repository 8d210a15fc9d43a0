"""Ready for the Serverless Application Repository (issue 24, item 11): the template's
AWS::ServerlessRepo::Application metadata passes what `sam publish` checks before any network call
(the SAM CLI's own code, run in its virtualenv), and the repository's documented constraints; its
version and licence follow pyproject.toml's."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT
from tests.support.sam_local import sam_cli

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
METADATA: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())["Metadata"][
    "AWS::ServerlessRepo::Application"
]

# What `sam publish` does with the template before it calls AWS: parse the metadata, validate it as
# CreateApplication and CreateApplicationVersion requests, and check the requests against botocore's
# model of the service.
PUBLISH_CHECK = r"""
import json, sys
import botocore.session
from botocore.validate import ParamValidator
from samcli.yamlhelper import yaml_parse
from samcli.vendor.serverlessrepo.parser import get_app_metadata, strip_app_metadata
from samcli.vendor.serverlessrepo.publish import (
    _create_application_request, _create_application_version_request)
from samcli.yamlhelper import yaml_dump

template = yaml_parse(open(sys.argv[1]).read())
metadata = get_app_metadata(template)
body = yaml_dump(strip_app_metadata(template))
create = _create_application_request(metadata, body)
application = "arn:aws:serverlessrepo:us-east-1:123456789012:applications/sidekiq-watch"
version = _create_application_version_request(metadata, application, body)
model = botocore.session.get_session().get_service_model("serverlessrepo")
for operation, request in (("CreateApplication", create), ("CreateApplicationVersion", version)):
    report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
    if report.has_errors():
        raise SystemExit(report.generate_report())
print(json.dumps(sorted(create)))
"""


@pytest.mark.build
def test_sam_publish_accepts_the_metadata_before_any_network_call() -> None:
    python = sam_cli().parent / "python"
    result = subprocess.run(
        [str(python), "-c", PUBLISH_CHECK, str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"Author", "Description", "Name", "LicenseUrl", "ReadmeUrl", "SemanticVersion"} <= set(
        json.loads(result.stdout)
    )


def test_the_metadata_meets_the_repositorys_constraints() -> None:
    assert re.fullmatch(r"[a-zA-Z0-9\-]{1,140}", METADATA["Name"])
    assert 1 <= len(METADATA["Description"]) <= 256
    assert re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", METADATA["Author"])
    assert len(METADATA["Author"]) <= 127
    assert 1 <= len(METADATA["Labels"]) <= 10
    assert all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label) for label in METADATA["Labels"])
    for local in (METADATA["LicenseUrl"], METADATA["ReadmeUrl"]):  # sam package uploads them
        assert (ROOT / local).is_file(), local


def test_version_licence_and_links_follow_pyproject() -> None:
    assert METADATA["SemanticVersion"] == PYPROJECT["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", METADATA["SemanticVersion"])
    assert METADATA["SpdxLicenseId"] == PYPROJECT["license"]
    assert (ROOT / METADATA["LicenseUrl"]).read_text().startswith(f"{PYPROJECT['license']} License")
    assert METADATA["SourceCodeUrl"] == PYPROJECT["urls"]["Source"]
    assert METADATA["HomePageUrl"] == PYPROJECT["urls"]["Homepage"]
