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

from sidekiq_watch.handlers import batch_webhook, poller
from sidekiq_watch.local_invoke import FunctionSpec, LocalContext
from tests.conftest import load_event
from tests.support.aws import create_delivery_table, create_state_table
from tests.support.cfn import Call, Stack, denied, dumps, recorded_aws_calls, sam_transform, unexercised
from tests.support.servers import LocalServer, Reply, json_reply, local_server

STATS = {"enqueued": 3, "queues": {"default": 3}, "retries": 70, "processes": 1}
EXERCISED: dict[str, list[Call]] = {"PollerRole": [], "BatchNotificationsRole": []}
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
    handler = poller.handler if function == "PollerFunction" else batch_webhook.handler
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


def ssm_put(name: str, value: str, secure: bool = True) -> None:
    boto3.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString" if secure else "String")


@pytest.mark.usefixtures("aws")
def test_the_poller_with_basic_auth_and_its_webhook_in_ssm(
    template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    sidekiq, slack = peers
    stack = Stack(
        template,
        {
            "StatsUrl": sidekiq.url + "/stats",
            "StatsAuth": "basic",
            "StatsUsername": "watch",
            "StatsSecretParameter": "/sidekiq-watch/stats-password",
        },
        {"StateTable": create_state_table("stack-state"), "PollerLogGroup": "poller-logs"},
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
    stack = Stack(
        template,
        {
            "ConfigParameter": "/sidekiq-watch/config",
            "ExtraParametersPath": "/sidekiq-watch/targets",
            "SlackWebhookSecret": "sidekiq-watch/slack",
        },
        {"StateTable": create_state_table("stack-state"), "PollerLogGroup": "poller-logs"},
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
        {"EnableBatchNotifications": "true", **parameters},
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
    template: dict[str, Any], peers: tuple[LocalServer, LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enabled with nothing else: generated password, the stack's default configuration, the poller's
    Slack webhook. The only thing that existed before is what the poller needs too."""
    _, slack = peers
    ssm_put("/sidekiq-watch/slack-webhook-url", slack.url + "/hook")
    stack = batch_stack(template, {})
    result = run_under(
        stack, "BatchNotificationsFunction", "BatchNotificationsRole", monkeypatch, batch_event()
    )
    assert result["statusCode"] == 200, result
    assert len(slack.received) == 1


@pytest.mark.usefixtures("aws")
def test_the_batch_function_delivering_to_ses_sns_and_a_webhook(
    template: dict[str, Any],
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
        template,
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
