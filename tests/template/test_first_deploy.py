"""A first deploy rehearsed without an AWS account: what `sam deploy --guided` asks, what must exist
before, and whether the watchdog's own alarms can reach a person."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.cfn import BATCH_TEMPLATE, POLLER_TEMPLATE, Stack, sam_transform

README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return sam_transform()


@pytest.fixture(scope="module")
def batch_template() -> dict[str, Any]:
    return sam_transform(BATCH_TEMPLATE)


@pytest.fixture(scope="module", params=[POLLER_TEMPLATE, BATCH_TEMPLATE])
def each_template(request: pytest.FixtureRequest) -> dict[str, Any]:
    return sam_transform(request.param)


def deploy_section() -> str:
    start = README.index("## Deploy")
    return README[start : README.index("\n## ", start + 1)]


def test_cloudwatch_can_publish_to_every_alarm_topic(each_template: dict[str, Any]) -> None:
    """CloudWatch cannot use the AWS-managed SNS key (alias/aws/sns): alarm e-mails would never arrive."""
    resources = each_template["Resources"]
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms
    for alarm in alarms:
        for action in alarm["Properties"]["AlarmActions"] + alarm["Properties"].get("OKActions", []):
            topic = resources[action["Ref"]]
            key = topic["Properties"].get("KmsMasterKeyId")
            assert key is None or "alias/aws/" not in str(key), (action, key)


def test_every_parameter_is_described_and_grouped(each_template: dict[str, Any]) -> None:
    groups = each_template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(each_template["Parameters"]), "each parameter in exactly one group"
    for name, spec in each_template["Parameters"].items():
        assert len(spec.get("Description", "")) > 20, name


# `sam deploy --guided` asks the stack name and region, each parameter, then 6 questions of its own
# (confirm, IAM roles, rollback, save, file, environment): issue 24 allows 20 in all.
SAM_OWN_QUESTIONS = 8


def test_a_guided_deploy_asks_at_most_20_questions(each_template: dict[str, Any]) -> None:
    assert len(each_template["Parameters"]) + SAM_OWN_QUESTIONS <= 20


def test_the_batch_stack_needs_no_answer(batch_template: dict[str, Any]) -> None:
    """Enabled by deploying it: every parameter has a default that deploys a working, closed stack."""
    assert [name for name, spec in batch_template["Parameters"].items() if "Default" not in spec] == []
    assert Stack(batch_template).refused_by() == []


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
        ({**URL, "StatsUsername": "watch"}, ["StatsUsernameHasItsSecret"]),
        ({**URL, "StatsUsername": "watch", "StatsSecretParameter": "/sidekiq-watch/stats-password"}, []),
        ({**URL, "StatsSecretParameter": "/sidekiq-watch/stats-token"}, []),
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


@pytest.mark.parametrize(
    ("name", "function", "parameters"),
    [
        (POLLER_TEMPLATE, "PollerFunction", {"StatsUrl": "https://a.example/stats"}),
        (BATCH_TEMPLATE, "BatchNotificationsFunction", {}),
    ],
)
def test_every_secret_reference_is_made_by_the_stack_or_a_readme_step(
    name: str, function: str, parameters: dict[str, str]
) -> None:
    template = sam_transform(name)
    stack = Stack(template, parameters)
    made = {
        f"ssm:{stack.resolve(r['Properties']['Name'])}"
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::SSM::Parameter" and stack.exists(logical_id)
    } | {
        f"secretsmanager:{logical_id}"
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::SecretsManager::Secret" and stack.exists(logical_id)
    }
    steps = deploy_section()
    for reference in references(stack, function) - made:
        secret = reference.split(":", 1)[1]
        assert re.search(rf"aws ssm put-parameter[^\n]*--name {re.escape(secret)}\b", steps), (
            f"{function} reads {reference}, which neither the stack makes nor README's Deploy creates"
        )


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"StatsUsername": "watch", "StatsSecretParameter": "/s"}, ("watch", "ssm:/s", "")),
        ({"StatsSecretParameter": "/s"}, ("", "", "ssm:/s")),
        ({"StatsUrl": "redis://cache:6379/0", "StatsSecretParameter": "/s"}, ("", "ssm:/s", "")),
        ({"StatsUrl": "rediss://cache:6379/0", "StatsSecretParameter": "/s"}, ("", "ssm:/s", "")),
        ({}, ("", "", "")),
    ],
)
def test_the_stats_secret_is_a_password_with_a_user_or_for_redis_and_a_token_otherwise(
    template: dict[str, Any], parameters: dict[str, str], expected: tuple[str, str, str]
) -> None:
    environment = Stack(template, {**URL, **parameters}).environment("PollerFunction")
    got = tuple(environment[f"SIDEKIQ_STATS_{v}"] for v in ("USERNAME", "PASSWORD", "TOKEN"))
    assert got == expected


@pytest.mark.parametrize(
    ("webhook", "variable"),
    [
        ("/sidekiq-watch/slack-webhook-url", "ssm:/sidekiq-watch/slack-webhook-url"),
        ("secretsmanager:team/slack", "secretsmanager:team/slack"),
    ],
)
def test_the_webhook_may_be_in_ssm_or_secrets_manager(
    template: dict[str, Any], webhook: str, variable: str
) -> None:
    stack = Stack(template, {**URL, "SlackWebhookParameter": webhook})
    assert stack.environment("PollerFunction")["SLACK_WEBHOOK_URL"] == variable
    pattern = template["Parameters"]["SlackWebhookParameter"]["AllowedPattern"]
    assert re.fullmatch(pattern, webhook)
    assert not re.fullmatch(pattern, "secretsmanager:")
    assert not re.fullmatch(pattern, "sidekiq-watch/slack")


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
