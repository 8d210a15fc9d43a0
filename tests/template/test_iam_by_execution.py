"""IAM proven by running the code: both functions' real paths against moto, every AWS call they make
recorded and judged against exactly the policies the SAM-transformed template gives their roles.

A call the template does not grant fails the test. Grants no scenario needed are printed at the end
(`pytest -s`), so a grant that is not used can be seen and removed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import responses

from sidekiq_watch.handlers import batch_webhook, poller, slack_actions
from sidekiq_watch.local_invoke import FunctionSpec, LocalContext
from tests.conftest import load_event
from tests.support.aws import create_delivery_table, create_state_table
from tests.support.cfn import (
    BATCH_TEMPLATE,
    Call,
    Stack,
    denied,
    dumps,
    recorded_aws_calls,
    sam_transform,
    unexercised,
)
from tests.support.servers import LocalServer, Reply, json_reply, local_server

STATS = {"enqueued": 3, "queues": {"default": 3}, "retries": 70, "processes": 1}
EXERCISED: dict[str, list[Call]] = {"PollerRole": [], "BatchNotificationsRole": [], "SlackActionsRole": []}
GRANTED: dict[str, list[dict[str, Any]]] = {}
# Granted though no scenario here needs it, each for a stated reason.
KEPT_UNEXERCISED = {
    # Powertools Idempotency reads a record with GetItem when a conditional write fails without
    # returning the old item (its documented IAM lists it); DynamoDB and moto return the item.
    "dynamodb:GetItem": "Powertools Idempotency's fallback read",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return sam_transform()


@pytest.fixture(scope="module")
def batch_template() -> dict[str, Any]:
    return sam_transform(BATCH_TEMPLATE)


@pytest.fixture(scope="module", autouse=True)
def report_unused_grants() -> Iterator[None]:
    yield
    for role, statements in GRANTED.items():
        unused = [
            line
            for line in unexercised(statements, EXERCISED[role])
            if not line.startswith("logs:") and line.split(" ")[0] not in KEPT_UNEXERCISED
        ]
        print(f"\n{role}: grants no scenario exercised (logs: are used by the Lambda runtime, not our code):")
        print("\n".join(f"  {line}" for line in unused) or "  none")


@pytest.fixture
def peers() -> Iterator[tuple[LocalServer, LocalServer]]:
    """A Sidekiq stats endpoint (Basic Auth) and a Slack-like webhook receiver."""
    with (
        local_server(lambda r: json_reply(STATS)) as sidekiq,
        local_server(lambda r: Reply(200, b"ok")) as slack,
    ):
        yield sidekiq, slack


def run_under(
    stack: Stack, function: str, role: str, monkeypatch: pytest.MonkeyPatch, event: dict[str, Any]
) -> Any:
    for name, value in stack.environment(function).items():
        monkeypatch.setenv(name, value)
    handlers = {
        "PollerFunction": poller.handler,
        "BatchNotificationsFunction": batch_webhook.handler,
        "SlackActionsFunction": slack_actions.handler,
    }
    handler = handlers[function]
    context = LocalContext(FunctionSpec(function, "", 30, 256, {}, []))
    with recorded_aws_calls() as calls:
        result = handler(event, context)
    statements = stack.role_statements(role)
    GRANTED.setdefault(role, [])
    GRANTED[role] += [s for s in statements if s not in GRANTED[role]]
    EXERCISED[role] += calls
    assert calls, "the scenario made no AWS call: it proves nothing"
    refused = denied(statements, calls)
    assert not refused, f"calls {role} is not granted:\n{dumps(refused)}\ngranted:\n{dumps(statements)}"
    return result


def poller_stack(template: dict[str, Any], parameters: dict[str, str]) -> Stack:
    """The poller's stack with these parameters, its state table created in moto."""
    state = {"StateTable": create_state_table("stack-state"), "PollerLogGroup": "poller-logs"}
    return Stack(template, parameters, state)


def ssm_put(name: str, value: str, secure: bool = True) -> None:
    boto3.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString" if secure else "String")


@pytest.mark.usefixtures("aws")
def test_the_poller_with_basic_auth_and_its_webhook_in_ssm(
    template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    sidekiq, slack = peers
    stack = poller_stack(
        template,
        {
            "StatsUrl": sidekiq.url + "/stats",
            "StatsUsername": "watch",
            "StatsSecretParameter": "/sidekiq-watch/stats-password",
        },
    )
    ssm_put("/sidekiq-watch/stats-password", "s3cr3t-stats")
    ssm_put("/sidekiq-watch/slack-webhook-url", slack.url + "/hook")
    run_under(stack, "PollerFunction", "PollerRole", monkeypatch, load_event("scheduled.json"))
    assert sidekiq.received[0].headers["Authorization"].startswith("Basic ")
    assert len(slack.received) == 1  # retries 70 > 50: the alert went out


@pytest.mark.usefixtures("aws")
def test_the_poller_with_a_configuration_document_and_its_webhook_in_secrets_manager(
    template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    sidekiq, slack = peers
    stack = poller_stack(
        template,
        {
            "ConfigParameter": "/sidekiq-watch/config",
            "SlackWebhookParameter": "secretsmanager:sidekiq-watch/slack",
        },
    )
    document = {
        "targets": [
            {
                "name": "shop",
                "url": sidekiq.url + "/stats",
                "username": "watch",
                "password": "ssm:/sidekiq-watch/targets/shop-password",
            }
        ]
    }
    ssm_put("/sidekiq-watch/config", json.dumps(document), secure=False)
    ssm_put("/sidekiq-watch/targets/shop-password", "s3cr3t-shop")
    boto3.client("secretsmanager").create_secret(Name="sidekiq-watch/slack", SecretString=slack.url + "/hook")
    run_under(stack, "PollerFunction", "PollerRole", monkeypatch, load_event("scheduled.json"))
    assert len(slack.received) == 1


def batch_stack(template: dict[str, Any], parameters: dict[str, str]) -> Stack:
    secret = boto3.client("secretsmanager").create_secret(
        Name="sidekiq-watch-batch-auth", SecretString="s3cr3t-generated"
    )
    stack = Stack(
        template,
        parameters,
        {
            "StateTable": "unused",
            "DeliveryTable": create_delivery_table("stack-deliveries"),
            "BatchAuthPassword": secret["ARN"],
            "DefaultBatchConfig": "/sidekiq-watch/batches/config",
            "BatchNotificationsLogGroup": "batch-logs",
        },
    )
    if stack.exists("DefaultBatchConfig"):
        properties = stack.template["Resources"]["DefaultBatchConfig"]["Properties"]
        ssm_put(stack.resolve(properties["Name"]), stack.resolve(properties["Value"]), secure=False)
    return stack


def batch_event() -> dict[str, Any]:
    event = load_event("batch-complete-with-failures.json")
    event["headers"]["authorization"] = "Basic " + base64.b64encode(b"sidekiq:s3cr3t-generated").decode()
    return event


@pytest.mark.usefixtures("aws")
def test_the_batch_function_as_deployed_with_no_manual_step(
    batch_template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enabled with nothing else: generated password, the stack's default configuration, the poller's
    Slack webhook. The only thing that existed before is what the poller needs too."""
    _, slack = peers
    ssm_put("/sidekiq-watch/slack-webhook-url", slack.url + "/hook")
    stack = batch_stack(batch_template, {})
    result = run_under(
        stack, "BatchNotificationsFunction", "BatchNotificationsRole", monkeypatch, batch_event()
    )
    assert result["statusCode"] == 200, result
    assert len(slack.received) == 1


@pytest.mark.usefixtures("aws")
def test_the_batch_function_delivering_to_ses_sns_and_a_webhook(
    batch_template: dict[str, Any],
    peers: tuple[LocalServer, LocalServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, hook = peers
    boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
    topic = boto3.client("sns").create_topic(Name="batches")["TopicArn"]
    config = {
        "channels": {
            "email": {"from": "watch@example.com", "to": "ops@example.com"},
            "sns": {"topic_arn": topic},
            "webhook": {"url": hook.url + "/hook"},
        }
    }
    ssm_put("/team/batches", json.dumps(config), secure=False)
    stack = batch_stack(
        batch_template,
        {
            "BatchConfigParameter": "/team/batches",
            "SesIdentity": "example.com",
            "NotificationTopicArn": topic,
        },
    )

    def send() -> Any:
        return run_under(
            stack, "BatchNotificationsFunction", "BatchNotificationsRole", monkeypatch, batch_event()
        )

    hook.respond_with(lambda r: Reply(500, b"down"))  # fails: its in-progress record is deleted
    assert send()["statusCode"] == 502
    hook.respond_with(lambda r: Reply(200, b"ok"))  # the re-send: two already delivered, one now
    result = send()
    assert result["statusCode"] == 200, result
    statuses = {d["channel"]: d["status"] for d in json.loads(result["body"])["deliveries"]}
    assert statuses == {"email": "already_delivered", "sns": "already_delivered", "webhook": "delivered"}


def test_a_call_the_template_does_not_grant_is_caught(template: dict[str, Any]) -> None:
    """The judge itself: reading another parameter, or another table, is refused."""
    stack = Stack(template, {"StatsUrl": "https://a.example/stats"}, {"StateTable": "stack-state"})
    statements = stack.role_statements("PollerRole")
    other_parameter = Call("ssm:GetParameter", ("arn:aws:ssm:us-east-1:123456789012:parameter/other",))
    other_table = Call("dynamodb:PutItem", ("arn:aws:dynamodb:us-east-1:123456789012:table/other",))
    allowed = Call("dynamodb:PutItem", ("arn:aws:dynamodb:us-east-1:123456789012:table/stack-state",))
    assert denied(statements, [other_parameter, other_table, allowed]) == [other_parameter, other_table]


# Issue 24 (6-10): every configuration form the docs show, under exactly what the template grants.
@pytest.mark.usefixtures("aws")
def test_the_poller_with_a_per_target_token_in_secrets_manager(
    template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/configuration.md's billing target: `token: secretsmanager:/sidekiq-watch/targets/…`."""
    sidekiq, slack = peers
    stack = poller_stack(
        template,
        {"ConfigParameter": "/sidekiq-watch/config"},
    )
    document = {
        "targets": [
            {
                "name": "billing",
                "url": sidekiq.url + "/stats",
                "token": "secretsmanager:/sidekiq-watch/targets/billing-token",
                "token_header": "X-Api-Key",
            }
        ]
    }
    ssm_put("/sidekiq-watch/config", json.dumps(document), secure=False)
    ssm_put("/sidekiq-watch/slack-webhook-url", slack.url + "/hook")
    boto3.client("secretsmanager").create_secret(
        Name="/sidekiq-watch/targets/billing-token", SecretString="s3cr3t-token"
    )
    run_under(stack, "PollerFunction", "PollerRole", monkeypatch, load_event("scheduled.json"))
    assert sidekiq.received[0].headers["X-Api-Key"] == "s3cr3t-token"
    assert len(slack.received) == 1


@pytest.mark.usefixtures("aws")
def test_the_poller_with_several_targets_reads_their_state_at_once(
    template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Scan for every target's state, BatchWriteItem for their histories (docs/performance.md)."""
    sidekiq, slack = peers
    stack = poller_stack(template, {"ConfigParameter": "/sidekiq-watch/config"})
    targets = [{"name": name, "url": sidekiq.url + "/stats"} for name in ("shop", "billing", "search")]
    ssm_put("/sidekiq-watch/config", json.dumps({"targets": targets}), secure=False)
    ssm_put("/sidekiq-watch/slack-webhook-url", slack.url + "/hook")
    run_under(stack, "PollerFunction", "PollerRole", monkeypatch, load_event("scheduled.json"))
    assert len(slack.received) == 3
    assert {call.action for call in EXERCISED["PollerRole"]} >= {"dynamodb:Scan", "dynamodb:BatchWriteItem"}


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:us-east-1:123456789012:{resource}"


@pytest.mark.parametrize(
    ("parameters", "may_read"),
    [
        ({"BatchConfigParameter": "/team/batches"}, False),
        ({}, True),  # the default posts to the poller's Slack
    ],
)
def test_the_public_batch_function_reads_only_its_own_secrets(
    batch_template: dict[str, Any], parameters: dict[str, str], may_read: bool
) -> None:
    stack = Stack(batch_template, parameters, {"BatchAuthPassword": "pw"})
    statements = stack.role_statements("BatchNotificationsRole")
    pollers_webhook = Call("ssm:GetParameter", (arn("ssm", "parameter/sidekiq-watch/slack-webhook-url"),))
    target_password = Call("ssm:GetParameter", (arn("ssm", "parameter/sidekiq-watch/targets/shop-password"),))
    assert target_password in denied(statements, [target_password])
    assert (pollers_webhook in denied(statements, [pollers_webhook])) is not may_read
    own = Call("ssm:GetParameter", (arn("ssm", "parameter/sidekiq-watch/batches/hipchat-token"),))
    own_secret = Call(
        "secretsmanager:GetSecretValue", (arn("secretsmanager", "secret:/sidekiq-watch/batches/smtp-AbCdEf"),)
    )
    assert denied(statements, [own, own_secret]) == []  # under /STACK/batches/, as the docs show


def test_in_a_vpc_the_poller_gets_network_interfaces_and_no_other_logs(template: dict[str, Any]) -> None:
    """AWSLambdaVPCAccessExecutionRole grants logs:CreateLogGroup and PutLogEvents on every log group."""
    stack = Stack(
        template,
        {
            "StatsUrl": "redis://cache.internal:6379/0",
            "VpcSubnetIds": "subnet-1",
            "VpcSecurityGroupIds": "sg-1",
        },
        {"PollerLogGroup": "poller-logs"},
    )
    statements = stack.role_statements("PollerRole")
    eni = [
        Call(f"ec2:{action}", ("*",))
        for action in ("CreateNetworkInterface", "DescribeNetworkInterfaces", "DeleteNetworkInterface")
    ]
    assert denied(statements, eni) == []
    elsewhere = [
        Call("logs:CreateLogGroup", (arn("logs", "log-group:/aws/lambda/other"),)),
        Call("logs:PutLogEvents", (arn("logs", "log-group:/aws/lambda/other:*"),)),
    ]
    assert denied(statements, elsewhere) == elsewhere


@pytest.mark.parametrize(
    ("identity", "accepted"),
    [("", True), ("example.com", True), ("ops@example.com", True), ("*", False), ("example.*", False)],
)
def test_the_ses_identity_is_one_identity(
    batch_template: dict[str, Any], identity: str, accepted: bool
) -> None:
    import re

    assert (
        bool(re.fullmatch(batch_template["Parameters"]["SesIdentity"]["AllowedPattern"], identity))
        is accepted
    )


@pytest.mark.usefixtures("aws")
def test_the_poller_with_token_auth(
    template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    sidekiq, slack = peers
    stack = poller_stack(
        template,
        {
            "StatsUrl": sidekiq.url + "/stats",
            "StatsSecretParameter": "/sidekiq-watch/stats-token",
        },
    )
    ssm_put("/sidekiq-watch/stats-token", "s3cr3t-token")
    ssm_put("/sidekiq-watch/slack-webhook-url", slack.url + "/hook")
    run_under(stack, "PollerFunction", "PollerRole", monkeypatch, load_event("scheduled.json"))
    assert sidekiq.received[0].headers["Authorization"] == "Bearer s3cr3t-token"


@pytest.mark.usefixtures("aws")
def test_the_batch_function_with_its_own_configuration_and_secrets(
    batch_template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/batch-notifications.md: secrets of its own configuration under /STACK-NAME/batches/, in SSM
    or Secrets Manager; none of the poller's."""
    _, hook = peers
    config = {
        "channels": {
            "hook": {"type": "webhook", "url": "ssm:/sidekiq-watch/batches/hook-url"},
            "secured": {
                "type": "webhook",
                "url": hook.url + "/secured",
                "username": "sidekiq",
                "password": "secretsmanager:/sidekiq-watch/batches/hook-password",
            },
        }
    }
    ssm_put("/team/batches", json.dumps(config), secure=False)
    ssm_put("/sidekiq-watch/batches/hook-url", hook.url + "/hook")
    boto3.client("secretsmanager").create_secret(
        Name="/sidekiq-watch/batches/hook-password", SecretString="s3cr3t-hook"
    )
    stack = batch_stack(batch_template, {"BatchConfigParameter": "/team/batches"})
    result = run_under(
        stack, "BatchNotificationsFunction", "BatchNotificationsRole", monkeypatch, batch_event()
    )
    assert result["statusCode"] == 200, result
    assert sorted(r.path for r in hook.received) == ["/hook", "/secured"]


# Issue 24 (9): customer-managed KMS keys, granted through the services that use them and no other way.
KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666"


@pytest.mark.usefixtures("aws")
def test_the_poller_reads_secrets_under_a_customer_managed_key(
    template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    sidekiq, slack = peers
    stack = poller_stack(
        template,
        {
            "StatsUrl": sidekiq.url + "/stats",
            "StatsUsername": "watch",
            "StatsSecretParameter": "/sidekiq-watch/stats-password",
            "SlackWebhookParameter": "secretsmanager:sidekiq-watch/slack",
            "KmsKeyArn": KEY,
        },
    )
    boto3.client("ssm").put_parameter(
        Name="/sidekiq-watch/stats-password", Value="s3cr3t", Type="SecureString", KeyId=KEY
    )
    boto3.client("secretsmanager").create_secret(
        Name="sidekiq-watch/slack", SecretString=slack.url + "/hook", KmsKeyId=KEY
    )
    run_under(stack, "PollerFunction", "PollerRole", monkeypatch, load_event("scheduled.json"))
    assert len(slack.received) == 1
    assert {c.action for c in EXERCISED["PollerRole"] if c.action.startswith("kms:")} == {"kms:Decrypt"}


def test_the_key_is_usable_only_through_the_services_that_need_it(
    template: dict[str, Any], batch_template: dict[str, Any]
) -> None:
    stats = {"StatsUrl": "https://a.example/stats"}
    poller_grants = Stack(template, {**stats, "KmsKeyArn": KEY}).role_statements("PollerRole")
    direct = Call("kms:Decrypt", (KEY,))
    via_sns = Call("kms:Decrypt", (KEY,), (("kms:ViaService", "sns.us-east-1.amazonaws.com"),))
    assert denied(poller_grants, [direct, via_sns]) == [direct, via_sns]
    via_ssm = Call("kms:Decrypt", (KEY,), (("kms:ViaService", "ssm.us-east-1.amazonaws.com"),))
    assert denied(poller_grants, [via_ssm]) == []
    assert denied(Stack(template, stats).role_statements("PollerRole"), [via_ssm]) == [via_ssm]
    batch_grants = Stack(batch_template, {"KmsKeyArn": KEY}).role_statements("BatchNotificationsRole")
    data_key = Call("kms:GenerateDataKey", (KEY,), (("kms:ViaService", "sns.us-east-1.amazonaws.com"),))
    assert denied(batch_grants, [data_key]) == [data_key]  # no topic given: no data keys


@pytest.mark.usefixtures("aws")
def test_the_batch_function_publishes_to_a_topic_under_a_customer_managed_key(
    batch_template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="batches", Attributes={"KmsMasterKeyId": KEY})["TopicArn"]
    ssm_put("/team/batches", json.dumps({"channels": {"sns": {"topic_arn": topic}}}), secure=False)
    parameters = {"BatchConfigParameter": "/team/batches", "NotificationTopicArn": topic, "KmsKeyArn": KEY}
    stack = batch_stack(batch_template, parameters)
    result = run_under(
        stack, "BatchNotificationsFunction", "BatchNotificationsRole", monkeypatch, batch_event()
    )
    assert result["statusCode"] == 200, result
    made = {c.action for c in EXERCISED["BatchNotificationsRole"] if c.action.startswith("kms:")}
    assert made == {"kms:GenerateDataKey", "kms:Decrypt"}


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    "where", ["/sidekiq-watch/slack-signing-secret", "secretsmanager:sidekiq-watch/slack-signing"]
)
def test_the_slack_actions_function_stores_a_silence_with_what_it_is_granted(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Issue 27: the opted-in function reads its signing secret and writes the silence, nothing else."""
    import time
    from urllib.parse import urlencode

    from sidekiq_watch.alerts.slack_actions import signature

    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    if where.startswith("secretsmanager:"):
        boto3.client("secretsmanager").create_secret(Name=where.split(":", 1)[1], SecretString=secret)
    else:
        ssm_put(where, secret)
    stack = Stack(
        template,
        {"StatsUrl": "https://a.example/stats", "SlackSigningSecretParameter": where},
        {"StateTable": create_state_table("stack-state"), "SlackActionsLogGroup": "slack-actions-logs"},
    )
    assert stack.exists("SlackActionsFunction")
    value = json.dumps({"t": "shop", "r": ["retries > 50"]})
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "alice"},
        "actions": [{"action_id": "silence_1h", "value": value, "action_ts": "1.5"}],
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
    }
    body = urlencode({"payload": json.dumps(payload)})
    stamp = str(int(time.time()))
    event = {
        "headers": {
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signature(secret, stamp, body.encode()),
        },
        "body": body,
        "isBase64Encoded": False,
    }
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")  # in Lambda: the update is handed off
    with responses.RequestsMock(assert_all_requests_are_fired=False) as slack:
        slack.post("https://hooks.slack.com/actions/T0/1/x")  # moto has no such function: sent inline
        result = run_under(stack, "SlackActionsFunction", "SlackActionsRole", monkeypatch, event)
    assert result["statusCode"] == 200
    assert "lambda:InvokeFunction" in {call.action for call in EXERCISED["SlackActionsRole"]}
    items = boto3.client("dynamodb").scan(TableName="stack-state")["Items"]
    assert [item["pk"]["S"] for item in items] == ["#silences"]
