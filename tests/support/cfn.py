"""The SAM-transformed template as a deploy would resolve it, and IAM decisions made from its policies.

Enough of CloudFormation's intrinsics (Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Join, Fn::FindInMap,
conditions) to turn a role's policies and a function's environment into the plain values a stack
with given parameters would have; and the AWS calls botocore makes, recorded as (action, resource
ARN) to be judged against those policies.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

REGION, ACCOUNT = "us-east-1", "123456789012"
NO_VALUE = object()


POLLER_TEMPLATE, BATCH_TEMPLATE = "template.yaml", "batch-notifications.yaml"


def sam_transform(name: str = POLLER_TEMPLATE) -> dict[str, Any]:
    """A template through the SAM translator, as `sam deploy` would send it (parameters unresolved)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((ROOT / name).read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/artifact.zip"  # what `sam package` puts there

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    result: dict[str, Any] = transform(template, {}, NoManagedPolicies())
    return result


MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    name: statements
    for name, statements in json.loads((Path(__file__).parent / "managed_policies.json").read_text()).items()
    if not name.startswith("_")
}


@dataclass
class Stack:
    """A deployed stack's view of the template: parameters given, physical ids for its resources."""

    template: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> what Ref returns
    name: str = "sidekiq-watch"

    def parameter(self, name: str) -> Any:
        spec = self.template["Parameters"][name]
        value = self.parameters.get(name, spec.get("Default", ""))
        if spec["Type"] == "CommaDelimitedList":
            return [v for v in str(value).split(",")] if value != "" else [""]
        return str(value)

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def refused_by(self) -> list[str]:
        """The template's Rules that refuse these parameters, as CloudFormation checks them before
        anything is created (moto does not evaluate Rules)."""
        refused = []
        for name, rule in self.template.get("Rules", {}).items():
            applies = self.resolve(rule.get("RuleCondition", True))
            if applies and not all(self.resolve(a["Assert"]) for a in rule["Assertions"]):
                refused.append(name)
        return refused

    def exists(self, logical_id: str) -> bool:
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": self.name,
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.physical:
            return self.physical[name]
        resource = self.template["Resources"].get(name, {})
        if resource.get("Type") == "AWS::SSM::Parameter":  # Ref gives the parameter's name
            return self.resolve(resource["Properties"]["Name"])
        return name  # otherwise the logical id stands for the physical one

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        name = self.physical.get(logical_id, logical_id)
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            group = self.resolve(self.template["Resources"][logical_id]["Properties"]["LogGroupName"])
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{ACCOUNT}:role/{name}"
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function") and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        return f"{name}.{attribute}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not NO_VALUE}
        [(key, argument)] = value.items()
        if key == "Ref":
            return self.ref(argument)
        if key == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, attribute)
        if key == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            names = {k: self.resolve(v) for k, v in variables.items()}
            return _substitute(text, lambda n: names[n] if n in names else self._sub_name(n))
        if key == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(str(i) for i in self.resolve(items))
        if key == "Fn::FindInMap":
            table, first, second = (self.resolve(a) for a in argument)
            return self.template["Mappings"][table][str(first)][second]
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(argument[0])
        if key == "Fn::Or":
            return any(self.resolve(a) for a in argument)
        if key == "Fn::Contains":  # a rule function: whether the list holds the value
            values, wanted = (self.resolve(a) for a in argument)
            return str(wanted) in [str(v) for v in values]
        if key == "Fn::Select":
            index, items = (self.resolve(a) for a in argument)
            return items[int(index)]
        if key == "Fn::Split":
            separator, text = (self.resolve(a) for a in argument)
            return str(text).split(separator)
        if key == "Fn::And":
            return all(self.resolve(a) for a in argument)
        if key == "Condition":
            return self.condition(argument)
        resolved = self.resolve(argument)
        return {} if resolved is NO_VALUE else {key: resolved}

    def _sub_name(self, name: str) -> str:
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.get_att(logical_id, attribute)
        return str(self.ref(name))

    def role_statements(self, role: str) -> list[dict[str, Any]]:
        """What the role grants: its inline policies and the AWS managed policies it attaches."""
        properties = self.template["Resources"][role]["Properties"]
        found = []
        for policy_arn in self.resolve({"list": properties.get("ManagedPolicyArns", [])}).get("list", []):
            name = str(policy_arn).rsplit("/", 1)[-1]
            if name not in MANAGED_POLICIES:
                raise AssertionError(
                    f"{role} attaches {policy_arn}: bundle its document in managed_policies.json"
                )
            found += MANAGED_POLICIES[name]
        attached = [  # AWS::IAM::RolePolicy resources naming this role, where their condition holds
            resource["Properties"]
            for resource in self.template["Resources"].values()
            if resource["Type"] == "AWS::IAM::RolePolicy"
            and resource["Properties"]["RoleName"] == {"Ref": role}
            and (resource.get("Condition") is None or self.condition(resource["Condition"]))
        ]
        for policy in [*properties.get("Policies", []), *attached]:
            for statement in self.resolve(policy["PolicyDocument"])["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                resources = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                found.append(
                    {
                        "Effect": statement["Effect"],
                        "Action": actions,
                        "Resource": resources,
                        "Condition": statement.get("Condition", {}),
                    }
                )
        return found

    def environment(self, function: str) -> dict[str, str]:
        variables = self.template["Resources"][function]["Properties"]["Environment"]["Variables"]
        return {k: str(v) for k, v in self.resolve(variables).items()}


def _substitute(text: str, lookup: Any) -> str:
    out, rest = [], text
    while "${" in rest:
        before, _, after = rest.partition("${")
        name, _, rest = after.partition("}")
        out += [before, "${" + name[1:] + "}" if name.startswith("!") else str(lookup(name))]
    return "".join(out) + rest


@dataclass(frozen=True)
class Call:
    action: str
    resources: tuple[str, ...]  # any of them being allowed is enough (SES checks address or domain)
    # Condition keys the request carries, e.g. kms:ViaService for what a service does on our behalf.
    context: tuple[tuple[str, str], ...] = ()


def resource_of(service: str, operation: str, params: dict[str, Any]) -> tuple[str, ...]:
    """The ARN(s) IAM evaluates for a call, from its parameters, as AWS documents them per service."""
    if service == "dynamodb":  # one table, or a batch's (RequestItems names each table)
        tables = [params["TableName"]] if "TableName" in params else sorted(params["RequestItems"])
        return tuple(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}" for table in tables)
    if service == "ssm":
        name = params["Name"]
        return (f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name if name.startswith('/') else '/' + name}",)
    if service == "secretsmanager":
        secret = params["SecretId"]
        return (
            secret
            if secret.startswith("arn:")
            else f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}-AbCdEf",
        )
    if service == "ses":
        address = params["FromEmailAddress"].split("<")[-1].rstrip(">")
        return tuple(
            f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{identity}"
            for identity in (address, address.split("@")[-1])
        )
    if service == "sns":
        return (params["TopicArn"],)
    if service == "lambda":
        name = params["FunctionName"]
        return (name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",)
    raise AssertionError(f"no ARN rule for {service}:{operation}: add one to tests/support/cfn.py")


# Where the IAM action is not named as the API operation is.
IAM_ACTION_OF = {"lambda:Invoke": "lambda:InvokeFunction"}


@contextmanager
def recorded_aws_calls() -> Iterator[list[Call]]:
    """Every API call any botocore client makes, whichever session made the client."""
    from botocore.client import BaseClient

    calls: list[Call] = []
    original = BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.signing_name
        action = IAM_ACTION_OF.get(f"{service}:{operation}", f"{service}:{operation}")
        calls.append(Call(action, resource_of(service, operation, params)))
        result = original(client, operation, params)
        calls.extend(kms_calls_made_for(client, operation, params, lambda *a: original(client, *a)))
        return result

    BaseClient._make_api_call = record  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


AWS_MANAGED_KEYS = {"alias/aws/ssm", "alias/aws/secretsmanager", "alias/aws/sns"}


def kms_calls_made_for(client: Any, operation: str, params: dict[str, Any], look: Any) -> list[Call]:
    """What KMS is asked on the caller's behalf, with the caller's permissions, when what it reads or
    publishes is under a customer-managed key (AWS documents these per service): SSM and Secrets
    Manager decrypt; SNS makes a data key and decrypts. `look` calls the service unrecorded."""
    service = client.meta.service_model.signing_name
    key, actions = None, ("kms:Decrypt",)
    if service == "ssm" and operation == "GetParameter" and params.get("WithDecryption"):
        filters = [{"Key": "Name", "Values": [params["Name"]]}]
        found = look("DescribeParameters", {"ParameterFilters": filters})["Parameters"]
        key = found[0].get("KeyId") if found and found[0]["Type"] == "SecureString" else None
    elif service == "secretsmanager" and operation == "GetSecretValue":
        key = look("DescribeSecret", {"SecretId": params["SecretId"]}).get("KmsKeyId")
    elif service == "sns" and operation == "Publish":
        key = look("GetTopicAttributes", {"TopicArn": params["TopicArn"]})["Attributes"].get("KmsMasterKeyId")
        actions = ("kms:GenerateDataKey", "kms:Decrypt")
    if not key or key in AWS_MANAGED_KEYS:
        return []
    via = (("kms:ViaService", f"{service}.{REGION}.amazonaws.com"),)
    return [Call(action, (key,), via) for action in actions]


def conditions_hold(conditions: dict[str, Any], call: Call) -> bool:
    """StringEquals only (what the template uses); any other operator is refused, not ignored."""
    context = dict(call.context)
    for operator, tests in conditions.items():
        if operator != "StringEquals":
            raise AssertionError(f"cfn.py cannot judge the condition operator {operator}: teach it")
        for key, wanted in tests.items():
            if context.get(key) not in (wanted if isinstance(wanted, list) else [wanted]):
                return False
    return True


def allows(statement: dict[str, Any], call: Call) -> bool:
    if statement["Effect"] != "Allow":
        return False
    action_ok = any(fnmatch.fnmatchcase(call.action.lower(), a.lower()) for a in statement["Action"])
    resource_ok = any(fnmatch.fnmatchcase(r, p) for r in call.resources for p in statement["Resource"])
    return action_ok and resource_ok and conditions_hold(statement.get("Condition", {}), call)


def denied(statements: list[dict[str, Any]], calls: list[Call]) -> list[Call]:
    return [call for call in calls if not any(allows(s, call) for s in statements)]


def unexercised(statements: list[dict[str, Any]], calls: list[Call]) -> list[str]:
    """Grants no recorded call needed, as 'action on resource' lines."""
    lines = []
    for statement in statements:
        for action in statement["Action"]:
            for resource in statement["Resource"]:
                single = {
                    "Effect": "Allow",
                    "Action": [action],
                    "Resource": [resource],
                    "Condition": statement.get("Condition", {}),
                }
                if not any(allows(single, call) for call in calls):
                    lines.append(f"{action} on {resource}")
    return lines


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
