"""A first deploy rehearsed without an AWS account: what `sam deploy --guided` asks, what must exist
before, and whether the watchdog's own alarms can reach a person."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.cfn import Stack, sam_transform

README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return sam_transform()


def deploy_section() -> str:
    start = README.index("## Deploy")
    return README[start : README.index("\n## ", start + 1)]


def test_cloudwatch_can_publish_to_every_alarm_topic(template: dict[str, Any]) -> None:
    """CloudWatch cannot use the AWS-managed SNS key (alias/aws/sns): alarm e-mails would never arrive."""
    resources = template["Resources"]
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms
    for alarm in alarms:
        for action in alarm["Properties"]["AlarmActions"] + alarm["Properties"].get("OKActions", []):
            topic = resources[action["Ref"]]
            key = topic["Properties"].get("KmsMasterKeyId")
            assert key is None or "alias/aws/" not in str(key), (action, key)


def test_every_parameter_is_described_and_grouped(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"]), "each parameter in exactly one group"
    for name, spec in template["Parameters"].items():
        assert len(spec.get("Description", "")) > 20, name


def test_a_first_deploy_needs_one_answer(template: dict[str, Any]) -> None:
    """Everything but the stats URL has a default that deploys a working, closed stack."""
    required = [name for name, spec in template["Parameters"].items() if "Default" not in spec]
    assert required == []
    rule = template["Rules"]["SomethingToWatch"]
    assert Stack(template).resolve(rule["RuleCondition"]) is True
    assert Stack(template).resolve(rule["Assertions"][0]["Assert"]) is False  # nothing to watch: refused
    assert Stack(template, {"StatsUrl": "https://a.example/stats"}).resolve(rule["Assertions"][0]["Assert"])
    assert not Stack(template, {"ConfigParameter": "/c"}).resolve(rule["RuleCondition"])  # targets in it


URL = {"StatsUrl": "https://app.example.com/sidekiq/stats"}


@pytest.mark.parametrize(
    ("parameters", "refused_by"),
    [
        ({}, ["SomethingToWatch"]),
        (URL, []),
        ({**URL, "StatsAuth": "basic"}, ["StatsAuthHasItsSecret"]),
        ({**URL, "StatsAuth": "token"}, ["StatsAuthHasItsSecret"]),
        ({**URL, "StatsAuth": "token", "StatsSecretParameter": "/sidekiq-watch/stats-token"}, []),
        ({**URL, "VpcSubnetIds": "subnet-1,subnet-2"}, ["VpcNeedsBoth"]),
        ({**URL, "VpcSecurityGroupIds": "sg-1"}, ["VpcNeedsBoth"]),
        ({**URL, "VpcSubnetIds": "subnet-1", "VpcSecurityGroupIds": "sg-1"}, []),
    ],
)
def test_parameters_that_only_make_sense_together_are_refused_together(
    template: dict[str, Any], parameters: dict[str, str], refused_by: list[str]
) -> None:
    """Refused at deploy time, before anything is created, rather than at the first poll."""
    assert Stack(template, parameters).refused_by() == refused_by
    for name in refused_by:
        assert len(template["Rules"][name]["Assertions"][0]["AssertDescription"]) > 20


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://app.example.com/sidekiq/stats", True),
        ("http://10.0.0.5:3000/sidekiq/stats", True),
        ("redis://cache.abc.use1.cache.amazonaws.com:6379/0", True),
        ("rediss://cache.abc.use1.cache.amazonaws.com:6379/0", True),
        ("", True),
        ("ftp://app.example.com/stats", False),
        ("app.example.com/sidekiq/stats", False),
    ],
)
def test_the_stats_url_may_be_http_or_redis(template: dict[str, Any], url: str, accepted: bool) -> None:
    pattern = template["Parameters"]["StatsUrl"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, url)) is accepted


def references(stack: Stack, function: str) -> set[str]:
    found = set()
    for value in stack.environment(function).values():
        if value.startswith(("ssm:", "secretsmanager:")):
            found.add(value)
    return found


@pytest.mark.parametrize("batch", ["false", "true"])
def test_every_secret_reference_is_made_by_the_stack_or_a_readme_step(
    template: dict[str, Any], batch: str
) -> None:
    stack = Stack(template, {"StatsUrl": "https://a.example/stats", "EnableBatchNotifications": batch})
    made = {
        f"ssm:{stack.resolve(r['Properties']['Name'])}"
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::SSM::Parameter" and stack.exists(name)
    } | {
        f"secretsmanager:{name}"
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::SecretsManager::Secret" and stack.exists(name)
    }
    functions = ["PollerFunction"] + (["BatchNotificationsFunction"] if batch == "true" else [])
    steps = deploy_section()
    for function in functions:
        for reference in references(stack, function) - made:
            name = reference.split(":", 1)[1]
            assert re.search(rf"aws ssm put-parameter[^\n]*--name {re.escape(name)}\b", steps), (
                f"{function} reads {reference}, which neither the stack makes nor README's Deploy creates"
            )
    assert stack.exists("BatchNotificationsFunction") is (batch == "true")


def test_the_deploy_steps_are_complete_and_in_order() -> None:
    steps = deploy_section()
    order = [
        "aws ssm put-parameter",
        "sam build",
        "sam deploy --guided",
        "aws secretsmanager get-secret-value",
        "SIDEKIQ_WATCH_URL",
        "confirm",
    ]
    positions = [steps.find(step) for step in order]
    assert all(p >= 0 for p in positions), dict(zip(order, positions, strict=True))
    assert positions == sorted(positions)
    assert "per month" in steps


def test_samconfig_deploys_with_the_guided_answers_not_examples() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]
    assert "example.com" not in str(deploy.get("parameter_overrides", ""))
    assert deploy["capabilities"] == "CAPABILITY_IAM"
