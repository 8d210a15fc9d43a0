"""template.yaml and batch-notifications.yaml: lint-clean, and what the SAM transform makes of them is
what we meant."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from sidekiq_watch.handlers import batch_webhook
from sidekiq_watch.local_invoke import FunctionSpec, LocalContext, resolve_handler
from tests.conftest import EVENTS, ROOT
from tests.support.cfn import BATCH_TEMPLATE, POLLER_TEMPLATE, Stack, sam_transform

TEMPLATE = ROOT / POLLER_TEMPLATE
TEMPLATES = [ROOT / POLLER_TEMPLATE, ROOT / BATCH_TEMPLATE]


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return sam_transform()


@pytest.fixture(scope="module")
def batch() -> dict[str, Any]:
    return sam_transform(BATCH_TEMPLATE)


@pytest.fixture(scope="module", params=[POLLER_TEMPLATE, BATCH_TEMPLATE])
def each(request: pytest.FixtureRequest) -> dict[str, Any]:
    return sam_transform(request.param)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(policy_document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement, both branches of an Fn::If included."""
    pending = list(policy_document["Statement"])
    while pending:
        item = pending.pop()
        if "Fn::If" in item:
            pending.extend(b for b in item["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"})
        else:
            yield item


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            *map(str, TEMPLATES),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_poller_runs_on_python313_arm64_built_without_docker() -> None:
    from samtranslator.yaml_helper import yaml_parse

    for path, name in zip(TEMPLATES, ("PollerFunction", "BatchNotificationsFunction"), strict=True):
        template = yaml_parse(path.read_text())
        assert template["Resources"][name]["Metadata"] == {"BuildMethod": "makefile"}
        assert f"build-{name}" in (ROOT / "Makefile").read_text()
        assert template["Globals"]["Function"]["Runtime"] == "python3.13"
        assert template["Globals"]["Function"]["Architectures"] == ["arm64"]


def test_the_makefile_builds_for_the_runtime_and_cpu_the_template_declares() -> None:
    """Bytecode or wheels for another Python or CPU would load nowhere, or be compiled on each start."""
    import re

    from samtranslator.yaml_helper import yaml_parse

    function = yaml_parse(TEMPLATE.read_text())["Globals"]["Function"]
    makefile = (ROOT / "Makefile").read_text()
    version = re.search(r"^LAMBDA_PYTHON_VERSION \?= (\S+)$", makefile, re.MULTILINE)
    platform = re.search(r"^LAMBDA_PLATFORM \?= (\S+)$", makefile, re.MULTILINE)
    assert version
    assert platform
    assert function["Runtime"] == f"python{version[1]}"
    assert {"arm64": "aarch64", "x86_64": "x86_64"}[function["Architectures"][0]] in platform[1]


def test_schedule_invokes_the_poller_every_5_minutes_by_default(transformed: dict[str, Any]) -> None:
    [rule] = resources_of(transformed, "AWS::Events::Rule").values()
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["PollerFunction", "Arn"]}
    stack = Stack(transformed)
    assert stack.resolve(rule["Properties"]["ScheduleExpression"]) == "rate(5 minutes)"


@pytest.mark.parametrize("minutes", ["1", "2", "5", "10", "15", "30", "60"])
def test_the_not_running_alarm_follows_the_schedule(transformed: dict[str, Any], minutes: str) -> None:
    """Three missed polls, whatever the schedule: a slower schedule never keeps it firing."""
    import re

    stack = Stack(transformed, {"PollEveryMinutes": minutes})
    [rule] = resources_of(transformed, "AWS::Events::Rule").values()
    expression = stack.resolve(rule["Properties"]["ScheduleExpression"])
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour)\)", expression)
    assert match, expression
    interval = int(match[1]) * (3600 if match[2] == "hour" else 60)
    assert (match[2] == "minute") == (interval == 60)  # rate(1 minutes) is refused by EventBridge
    alarm = transformed["Resources"]["PollerNotRunningAlarm"]["Properties"]
    assert stack.resolve(alarm["Period"]) == interval
    assert alarm["EvaluationPeriods"] * interval <= 86400


def test_handler_resolves_to_an_importable_function(each: dict[str, Any]) -> None:
    for function in resources_of(each, "AWS::Lambda::Function").values():
        assert callable(resolve_handler(function["Properties"]["Handler"]))


VPC_NETWORK_INTERFACE_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def test_iam_grants_no_wildcard_actions_or_resources(each: dict[str, Any]) -> None:
    for role in resources_of(each, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            for statement in statements(policy["PolicyDocument"]):
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert all("*" not in action for action in actions), statement
                # Lambda manages a VPC function's network interfaces through its role, and EC2 grants
                # those actions on no narrower resource: the one exception, named.
                if not set(actions) <= VPC_NETWORK_INTERFACE_ACTIONS:
                    assert statement["Resource"] != "*", statement


def test_iam_reads_exactly_the_webhook_parameter(transformed: dict[str, Any]) -> None:
    role = transformed["Resources"]["PollerRole"]
    found = [
        (s["Action"], s["Resource"].get("Fn::Sub") if isinstance(s["Resource"], dict) else None)
        for policy in role["Properties"]["Policies"]
        for s in statements(policy["PolicyDocument"])
    ]
    assert (
        "ssm:GetParameter",
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SlackWebhookParameter}",
    ) in found


def test_each_function_logs_to_its_own_group_with_retention(each: dict[str, Any]) -> None:
    functions = resources_of(each, "AWS::Lambda::Function")
    for function in functions.values():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        properties = each["Resources"][group]["Properties"]
        assert properties["RetentionInDays"] == 30


def test_no_role_may_write_logs_everywhere(each: dict[str, Any]) -> None:
    """Not AWSLambdaBasicExecutionRole (logs:* on *): each role writes to its own function's group."""
    stack = Stack(each, {}, {"StateTable": "t", "DeliveryTable": "d"})
    for name, role in resources_of(each, "AWS::IAM::Role").items():
        assert "AWSLambdaBasicExecutionRole" not in json.dumps(role), name
        logs = [s for s in stack.role_statements(name) if any(a.startswith("logs:") for a in s["Action"])]
        assert logs, name
        for statement in logs:
            assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
            [arn] = statement["Resource"]
            assert arn.startswith("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/sidekiq-watch-")


def test_webhook_is_never_a_plain_environment_value(transformed: dict[str, Any]) -> None:
    function = transformed["Resources"]["PollerFunction"]
    value = json.dumps(function["Properties"]["Environment"]["Variables"]["SLACK_WEBHOOK_URL"])
    assert "ssm:${SlackWebhookParameter}" in value
    assert "WebhookInSecretsManager" in value  # or the secretsmanager: reference as given


@pytest.mark.parametrize("path", sorted(EVENTS.rglob("*.json")), ids=lambda p: p.name)
def test_every_event_file_is_valid_json(path: Any) -> None:
    json.loads(path.read_text())


def test_state_table_is_on_demand_with_ttl_and_point_in_time_recovery(transformed: dict[str, Any]) -> None:
    props = transformed["Resources"]["StateTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]


def test_iam_reaches_only_the_state_table(transformed: dict[str, Any]) -> None:
    role = transformed["Resources"]["PollerRole"]
    dynamodb = [
        s
        for policy in role["Properties"]["Policies"]
        for s in statements(policy["PolicyDocument"])
        if any(
            a.startswith("dynamodb:")
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        )
    ]
    assert dynamodb == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"],
            "Resource": {"Fn::GetAtt": ["StateTable", "Arn"]},
        }
    ]
    variables = transformed["Resources"]["PollerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["STATE_TABLE"] == {"Ref": "StateTable"}


def test_batch_function_has_a_function_url_checked_by_the_function(batch: dict[str, Any]) -> None:
    [url] = resources_of(batch, "AWS::Lambda::Url").values()
    assert url["Properties"]["AuthType"] == "NONE"
    assert url["Properties"]["TargetFunctionArn"] == {"Ref": "BatchNotificationsFunction"}
    variables = batch["Resources"]["BatchNotificationsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["BATCH_AUTH_PASSWORD"] == {"Fn::Sub": "secretsmanager:${BatchAuthPassword}"}
    assert variables["DELIVERY_TABLE"] == {"Ref": "DeliveryTable"}


def test_the_poller_stack_opens_nothing_to_the_public(
    transformed: dict[str, Any], batch: dict[str, Any]
) -> None:
    """The public Function URL is the batch stack's alone: deploying the poller never asks about it."""
    public = [
        name
        for name, r in transformed["Resources"].items()
        if r["Type"] == "AWS::Lambda::Url"
        or (r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "*")
    ]
    default, opted_in = Stack(transformed), Stack(transformed, {"SlackSigningSecretParameter": "/sw/signing"})
    assert [name for name in public if default.exists(name)] == []
    # Only when a team opts in to silencing from Slack: the URL Slack sends clicks to.
    assert {name for name in public if opted_in.exists(name)} == {
        "SlackActionsFunctionUrl",
        "SlackActionsFunctionUrlPublicPermissions",
        "SlackActionsFunctionURLInvokeAllowPublicAccess",
    }
    stack = Stack(batch)
    assert {
        "BatchNotificationsFunction",
        "BatchNotificationsFunctionUrl",
        "BatchAuthPassword",
        "DefaultBatchConfig",
        "DeliveryTable",
    } <= {name for name in batch["Resources"] if stack.exists(name)}


def test_a_flood_on_the_public_url_is_capped_and_alarmed(batch: dict[str, Any]) -> None:
    function = batch["Resources"]["BatchNotificationsFunction"]["Properties"]
    assert Stack(batch).resolve(function["ReservedConcurrentExecutions"]) == "5"
    zero = Stack(batch, {"ReservedConcurrency": "0"})
    assert zero.resolve({"x": function["ReservedConcurrentExecutions"]}) == {}  # no reservation at all
    throttles = batch["Resources"]["BatchThrottlesAlarm"]["Properties"]
    assert throttles["MetricName"] == "Throttles"
    assert throttles["Dimensions"][0]["Value"] == {"Ref": "BatchNotificationsFunction"}


def test_undeliverable_notifications_alarm_instead_of_a_dead_letter_queue(
    batch: dict[str, Any],
) -> None:
    """Function URL calls are synchronous: a dead-letter queue would never receive one."""
    function = batch["Resources"]["BatchNotificationsFunction"]["Properties"]
    assert "DeadLetterConfig" not in function
    assert not resources_of(batch, "AWS::SQS::Queue")
    alarm = batch["Resources"]["BatchUndeliveredAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Sidekiq", "BatchFailed")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "sidekiq-watch"}]


def test_the_undelivered_alarm_watches_the_metric_the_handler_emits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "b.yaml"
    config.write_text("channels:\n  hook:\n    type: webhook\n    url: http://127.0.0.1:9/x\n")
    monkeypatch.setenv("BATCH_CONFIG", str(config))
    monkeypatch.setenv("BATCH_AUTH", "none")
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "0.2")
    event = json.loads((EVENTS / "batch-complete-with-failures.json").read_text())
    batch_webhook.handler(event, LocalContext(FunctionSpec("B", "", 30, 256, {}, [])))
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [metrics] = [m for m in emitted if "BatchFailed" in m]
    assert metrics["service"] == "sidekiq-watch"
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Sidekiq"


def test_state_is_kept_and_delivery_records_are_not(
    transformed: dict[str, Any], batch: dict[str, Any]
) -> None:
    state, deliveries = transformed["Resources"]["StateTable"], batch["Resources"]["DeliveryTable"]
    assert (state["DeletionPolicy"], state["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert (deliveries["DeletionPolicy"], deliveries["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_delivery_table_fits_powertools_idempotency(batch: dict[str, Any]) -> None:
    props = batch["Resources"]["DeliveryTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_vpc_and_its_eni_permissions_only_when_subnets_are_given(transformed: dict[str, Any]) -> None:
    function = transformed["Resources"]["PollerFunction"]["Properties"]
    assert function["VpcConfig"]["Fn::If"][0] == "InVpc"
    assert function["VpcConfig"]["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    from tests.support.cfn import Call, denied

    eni = [Call("ec2:CreateNetworkInterface", ("*",))]
    outside = Stack(transformed, {"StatsUrl": "https://a.example/stats"}).role_statements("PollerRole")
    inside = Stack(transformed, {"VpcSubnetIds": "subnet-1", "VpcSecurityGroupIds": "sg-1"}).role_statements(
        "PollerRole"
    )
    assert denied(outside, eni) == eni
    assert denied(inside, eni) == []


SECRET_VARIABLES = (
    "SLACK_WEBHOOK_URL",
    "SIDEKIQ_STATS_PASSWORD",
    "SIDEKIQ_STATS_TOKEN",
    "BATCH_AUTH_PASSWORD",
    "BATCH_AUTH_TOKEN",
)


def test_secrets_are_never_plain_environment_values(each: dict[str, Any]) -> None:
    """Every secret variable is a reference (ssm:/secretsmanager:) or empty, in every branch of every If."""
    for function in resources_of(each, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        for name in SECRET_VARIABLES:
            if name not in variables:
                continue
            pending = [variables[name]]
            while pending:
                value = pending.pop()
                if isinstance(value, dict) and "Fn::If" in value:
                    pending.extend(value["Fn::If"][1:])
                elif isinstance(value, dict) and "Fn::Sub" in value:
                    assert value["Fn::Sub"].startswith(("ssm:", "secretsmanager:")), (name, value)
                elif value == {"Ref": "SlackWebhookParameter"}:  # the branch where it says secretsmanager:
                    pattern = each["Parameters"]["SlackWebhookParameter"]["AllowedPattern"]
                    assert "|secretsmanager:" in pattern
                else:
                    assert value == "", (name, value)


def test_dashboard_graphs_every_figure_per_target_from_the_logs(transformed: dict[str, Any]) -> None:
    """Logs Insights over the poller's records: the figures cost no custom metric."""
    import re

    dashboard = transformed["Resources"]["Dashboard"]
    assert dashboard["Condition"] == "WantsDashboard"
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    queries = " ".join(w["properties"]["query"] for w in widgets if w["type"] == "log")
    for figure in ("retries", "dead", "enqueued", "default_latency", "processes"):
        assert f"(figures.{figure})" in queries, figure
    assert "source_error.kind" in queries
    assert "SOURCE '${PollerLogGroup}'" in body
    lambda_metrics = {m[1] for w in widgets if w["type"] == "metric" for m in w["properties"]["metrics"]}
    assert lambda_metrics == {"Errors", "Throttles", "Duration"}
    assert not [
        m
        for w in widgets
        if w["type"] == "metric"
        for m in w["properties"]["metrics"]
        if m[0] != "AWS/Lambda"
    ]


def test_the_dashboard_reads_fields_the_poll_log_record_has() -> None:
    """The queries name fields of TargetReport.as_dict(): a renamed field would empty the dashboard."""
    from sidekiq_watch.alerts.report import TargetReport
    from sidekiq_watch.errors import SourceError
    from sidekiq_watch.stats.sources import FileStatsSource

    snapshot = FileStatsSource(str(EVENTS / "stats" / "sidekiq-web-stats.json")).read()
    record = TargetReport("shop", 0.0, snapshot=snapshot).as_dict()
    assert {"retries", "dead", "enqueued", "default_latency", "processes"} <= set(record["figures"])
    assert record["target"] == "shop"
    failed = TargetReport("shop", 0.0, source_error=SourceError("timeout", "x", "y")).as_dict()
    assert failed["source_error"]["kind"] == "timeout"


def test_the_watchdog_is_watched(transformed: dict[str, Any], batch: dict[str, Any]) -> None:
    alarms = resources_of(transformed, "AWS::CloudWatch::Alarm")
    batch_alarms = resources_of(batch, "AWS::CloudWatch::Alarm")
    assert {a["Properties"]["MetricName"] for a in batch_alarms.values()} == {
        "Errors",
        "Throttles",
        "BatchFailed",
    }
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in batch_alarms.values())
    assert batch["Resources"]["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
    poller = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in alarms.values()
        if a["Properties"]["Dimensions"][0]["Value"] == {"Ref": "PollerFunction"}
    }
    assert set(poller) == {"Errors", "Throttles", "Invocations"}
    missing = poller["Invocations"]
    assert (missing["ComparisonOperator"], missing["Threshold"], missing["TreatMissingData"]) == (
        "LessThanThreshold",
        1,
        "breaching",
    )
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    subscription = transformed["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"


def test_outputs_name_the_dashboard_url_function_url_and_tables(
    transformed: dict[str, Any], batch: dict[str, Any]
) -> None:
    outputs = transformed["Outputs"]
    assert "#dashboards:name=${Dashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]
    assert outputs["StateTableName"]["Value"] == {"Ref": "StateTable"}
    assert batch["Outputs"]["BatchNotificationsUrl"]["Value"] == {
        "Fn::GetAtt": ["BatchNotificationsFunctionUrl", "FunctionUrl"]
    }
    assert batch["Outputs"]["DeliveryTableName"]["Value"] == {"Ref": "DeliveryTable"}
