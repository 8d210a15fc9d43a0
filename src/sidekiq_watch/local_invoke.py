"""What ``sam local invoke`` does, minus the container: template.yaml + event file → handler in-process.

Reads the function's Handler, Timeout, MemorySize and Environment (Globals merged under the
function's own), resolves ``!Ref``/``!Sub``/``!If`` against parameter defaults and overrides,
and applies an ``--env-vars`` file in SAM's own format (``{"LogicalId": {...}, "Parameters": {...}}``);
as with SAM, only variables the template declares are set.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsic tags (!Ref, !Sub, !GetAtt, …)."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            template = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(f"template {path}: no such file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"template {path}: not valid YAML ({exc})") from None
    if not isinstance(template, dict):
        raise ConfigError(f"template {path}: not a template")
    return template


class Unresolvable(Exception):
    """An intrinsic that only CloudFormation can resolve (e.g. !GetAtt of a resource)."""


@dataclass
class Resolver:
    """Resolves what makes sense before deployment: parameters, pseudo parameters, conditions."""

    template: Mapping[str, Any]
    overrides: Mapping[str, str] = field(default_factory=dict)

    def parameter(self, name: str) -> str:
        pseudo = {
            "AWS::Region": os.environ.get("AWS_REGION", "us-east-1"),
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::StackName": "sidekiq-watch-local",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.overrides:
            return str(self.overrides[name])
        spec = self.template.get("Parameters", {}).get(name)
        if spec is None or "Default" not in spec:
            raise Unresolvable(name)
        return str(spec["Default"])

    def condition(self, name: str) -> bool:
        spec = self.template.get("Conditions", {}).get(name)
        if spec is None:
            raise Unresolvable(f"condition {name}")
        return bool(self.value(spec))

    def value(self, node: Any) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            return node
        ((key, arg),) = node.items()
        if key == "Ref":
            return self.parameter(arg)
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return re.sub(
                r"\$\{([^}!]+)\}",
                lambda m: (
                    str(self.value(extra[m.group(1)])) if m.group(1) in extra else self.parameter(m.group(1))
                ),
                text,
            )
        if key == "Fn::If":
            return self.value(arg[1] if self.condition(arg[0]) else arg[2])
        if key == "Fn::Equals":
            return str(self.value(arg[0])) == str(self.value(arg[1]))
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(a) for a in arg)
        if key == "Fn::Or":
            return any(self.value(a) for a in arg)
        if key == "Fn::Select":
            return self.value(arg[1])[int(self.value(arg[0]))]
        if key == "Fn::Split":
            return str(self.value(arg[1])).split(str(arg[0]))
        if key in ("Condition", "Fn::Condition"):  # `!Condition X` as this loader reads it
            return self.condition(arg)
        raise Unresolvable(key)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    unresolved: list[str]


# The poller's stack and the batch notifications' own: `invoke` finds a function in either.
TEMPLATES = ("template.yaml", "batch-notifications.yaml")


def template_declaring(logical_id: str, directory: str | Path = ".") -> Path:
    """The project template that declares the function, so `invoke` needs no --template."""
    found: list[str] = []
    for name in TEMPLATES:
        path = Path(directory) / name
        if not path.is_file():
            continue
        resources = load_template(path).get("Resources", {})
        if resources.get(logical_id, {}).get("Type") == "AWS::Serverless::Function":
            return path
        found += [k for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"]
    where = " or ".join(TEMPLATES)
    raise ConfigError(f"no function {logical_id!r} in {where} (functions: {', '.join(found) or 'none'})")


def function_spec(
    template: Mapping[str, Any], logical_id: str, overrides: Mapping[str, str] | None = None
) -> FunctionSpec:
    resources = template.get("Resources", {})
    resource = resources.get(logical_id)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        known = ", ".join(k for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function")
        raise ConfigError(f"no function {logical_id!r} in the template (functions: {known or 'none'})")
    globals_ = template.get("Globals", {}).get("Function", {})
    props = {**globals_, **resource.get("Properties", {})}
    resolver = Resolver(template, overrides or {})
    declared = {
        **globals_.get("Environment", {}).get("Variables", {}),
        **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
    }
    environment: dict[str, str] = {}
    unresolved: list[str] = []
    for name, node in declared.items():
        try:
            value = resolver.value(node)
        except Unresolvable:
            unresolved.append(name)
            continue
        environment[name] = "" if value is None else str(value)
    return FunctionSpec(
        logical_id=logical_id,
        handler=str(resolver.value(props.get("Handler", ""))),
        timeout=int(resolver.value(props.get("Timeout", 3))),
        memory=int(resolver.value(props.get("MemorySize", 128))),
        environment=environment,
        unresolved=unresolved,
    )


def apply_env_vars_file(
    spec: FunctionSpec, path: str | Path, base: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """SAM's --env-vars over ``base`` (default: the template's values): the function's own section
    wins over ``Parameters``; undeclared names are ignored."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--env-vars {path}: cannot read a JSON object ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--env-vars {path}: expected a JSON object")
    given = {**data.get("Parameters", {}), **data.get(spec.logical_id, {})}
    declared = set(spec.environment) | set(spec.unresolved)
    environment = dict(spec.environment if base is None else base)
    ignored = []
    for name, value in given.items():
        if name in declared:
            environment[name] = "" if value is None else str(value)
        else:
            ignored.append(name)
    return environment, ignored


class LocalContext:
    """The attributes of a Lambda context that handlers and Powertools read."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = str(spec.memory)  # a string, as the Lambda runtime gives it
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{spec.logical_id}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def resolve_handler(handler: str) -> Any:
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        raise ConfigError(f"Handler {handler!r} is not of the form module.function")
    module = importlib.import_module(module_name)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(f"Handler {handler!r}: {module_name} has no function {attribute!r}")
    return function


def lambda_environment(spec: FunctionSpec) -> dict[str, str]:
    """What the Lambda runtime sets beside the function's own variables."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def shell_overrides(spec: FunctionSpec, shell: Mapping[str, str]) -> dict[str, str]:
    """The template's values, each declared one replaced by the shell's if set there (as SAM does)."""
    declared = set(spec.environment) | set(spec.unresolved)
    return {**spec.environment, **{name: shell[name] for name in declared if name in shell}}


def invoke(
    template_path: str | Path | None,
    logical_id: str,
    event_path: str | Path,
    *,
    env_vars_path: str | Path | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
) -> Any:
    """Run the function's handler on the event in this process and return its result.

    Values as SAM orders them: the template's, then the shell's, then ``--env-vars``. What the
    function prints (logs, EMF metrics) goes to stderr, so stdout can carry the response alone.
    """
    if template_path is None:
        template_path = template_declaring(logical_id)
    spec = function_spec(load_template(template_path), logical_id, parameter_overrides)
    environment = shell_overrides(spec, os.environ)
    if env_vars_path is not None:
        environment, ignored = apply_env_vars_file(spec, env_vars_path, environment)
        if ignored:
            print(
                f"note: --env-vars sets {', '.join(sorted(ignored))}, which the template does not "
                f"declare for {logical_id}; ignored, as sam local invoke does",
                file=sys.stderr,
            )
    missing = [name for name in spec.unresolved if name not in environment]
    if missing:
        print(
            f"note: {', '.join(missing)} cannot be resolved outside CloudFormation; set them with --env-vars",
            file=sys.stderr,
        )
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--event {event_path}: cannot read a JSON event ({exc})") from None
    with patched_environ({**lambda_environment(spec), **environment}), redirect_stdout(sys.stderr):
        function = resolve_handler(spec.handler)
        context = LocalContext(spec)
        try:
            return function(event, context)
        except Exception as exc:
            raise HandlerRaised(exc, context.aws_request_id) from exc


class HandlerRaised(Exception):
    """The function itself raised: what Lambda reports as the invocation's error."""

    def __init__(self, original: Exception, request_id: str) -> None:
        self.original = original
        self.request_id = request_id
        super().__init__(str(original))

    def response(self) -> dict[str, Any]:
        """What the runtime interface client (and so `sam local invoke`) answers when a handler raises."""
        import traceback

        return {
            "errorMessage": str(self.original),
            "errorType": type(self.original).__name__,
            "requestId": self.request_id,
            "stackTrace": traceback.format_tb(self.original.__traceback__),
        }
