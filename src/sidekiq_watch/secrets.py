"""Secret values and references to them (``ssm:/path``, ``secretsmanager:name``).

A :class:`Secret` never shows its value in ``repr``/``str``; references are resolved on first
use through Powertools Parameters, whose cache spares a call per invocation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SecretError, causes

SSM_PREFIX = "ssm:"
SECRETS_MANAGER_PREFIX = "secretsmanager:"
REFERENCE_PREFIXES = (SSM_PREFIX, SECRETS_MANAGER_PREFIX)
CACHE_SECONDS = 300


@dataclass(frozen=True)
class Secret:
    """A secret taken from environment variable ``variable``: its value, or a reference to it."""

    variable: str
    raw: str = field(repr=False)

    @property
    def reference(self) -> str | None:
        """The reference text (safe to show: it names where the secret lives, not what it is)."""
        return self.raw if self.raw.startswith(REFERENCE_PREFIXES) else None

    def __str__(self) -> str:
        return f"{self.variable}=<{self.reference}>" if self.reference else f"{self.variable}=<secret>"

    def reveal(self) -> str:
        """The secret value, fetching it from SSM or Secrets Manager when this is a reference."""
        if self.reference is None:
            return self.raw
        return resolve_reference(self.variable, self.raw)


def resolve_reference(variable: str, reference: str) -> str:
    # Imported here so a configuration without references never pays for boto3 at import.
    from aws_lambda_powertools.utilities import parameters

    try:
        if reference.startswith(SSM_PREFIX):
            value = parameters.get_parameter(
                reference.removeprefix(SSM_PREFIX), decrypt=True, max_age=CACHE_SECONDS
            )
        else:
            value = parameters.get_secret(
                reference.removeprefix(SECRETS_MANAGER_PREFIX), max_age=CACHE_SECONDS
            )
    except Exception as exc:
        raise SecretError(f"{variable}: could not read {reference}: {_why(exc)}") from None
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str) or not value.strip():
        raise SecretError(f"{variable}: {reference} is empty")
    return value.strip()


# AWS error codes a user can act on, by what to do about them.
_CODES = {
    "ParameterNotFound": "no such parameter",
    "ResourceNotFoundException": "no such secret",
    "AccessDeniedException": "access denied (check the function's IAM policy)",
    "AccessDenied": "access denied (check the function's IAM policy)",
    "UnrecognizedClientException": "AWS rejected the credentials",
    "InvalidSignatureException": "AWS rejected the credentials",
}


def _why(exc: Exception) -> str:
    """A reason from the exception types and AWS error codes involved, never the library's message
    text (which may quote a value)."""
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    for cause in causes(exc):
        if isinstance(cause, NoCredentialsError):
            return "no AWS credentials are available"
        if isinstance(cause, NoRegionError):
            return "no AWS region is set (AWS_REGION)"
        if isinstance(cause, ClientError):
            code = str(cause.response.get("Error", {}).get("Code", ""))
            return _CODES.get(code, f"AWS answered {code or type(cause).__name__}")
    return type(exc).__name__


def validate_reference(variable: str, raw: str) -> str | None:
    """A problem with a reference's form, or None when it is well formed (or not a reference)."""
    for prefix in REFERENCE_PREFIXES:
        if raw.startswith(prefix):
            name = raw.removeprefix(prefix)
            if not name or name != name.strip():
                return f"{variable}: the reference {raw!r} names no parameter or secret"
            if prefix == SSM_PREFIX and not name.startswith("/") and "/" in name:
                return f"{variable}: SSM parameter paths start with '/': {raw!r}"
    return None
