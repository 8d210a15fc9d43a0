"""Channels delivered through AWS: e-mail with Amazon SES, and an SNS topic anything can subscribe to."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.message import EmailMessage

from ..errors import ConfigError, DeliveryError
from .base import AWS_CALL_WORST_SECONDS, Options, Resources
from .message import Message, as_html, as_plain_text
from .smtp import SMTP_OPTIONS, SmtpTransport

VIA = ("ses", "smtp")
EMAIL_OPTIONS = {"from", "to", "cc", "bcc", "reply_to", "subject", "configuration_set", "via", *SMTP_OPTIONS}
SNS_OPTIONS = {"topic_arn", "subject"}
# Errors a retry cannot fix: the request, the identity or the permissions are wrong.
PERMANENT_AWS_ERRORS = {
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSendingPausedException",
    "BadRequestException",
    "NotFoundException",
    "NotFound",
    "InvalidParameter",
    "InvalidParameterValue",
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "ValidationError",
}


def _ensure_time(location: str, resources: Resources) -> None:
    """An AWS call that might outlast the invocation is not started: the sender retries it."""
    if resources.time_left() < AWS_CALL_WORST_SECONDS:
        raise DeliveryError(
            location, "not enough time left in this request (will be retried)", permanent=False
        )


def _aws_delivery_error(location: str, exc: Exception) -> DeliveryError:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", type(exc).__name__))
    message = str(response.get("Error", {}).get("Message", ""))[:200]
    permanent = code in PERMANENT_AWS_ERRORS
    advice = "not retried, a retry cannot fix this" if permanent else "will be retried"
    # AWS's message goes to the log only (remote_error): the reply to a batch sender names the code.
    return DeliveryError(
        location, f"{code}: {advice}", permanent=permanent, remote_error=f"{code} {message}".strip()
    )


# Placeholders a subject may name: replaced as plain text, never as a format template (a format spec
# such as {bid:>1099511627776} would allocate without bound, {bid.__class__} would show internals).
SUBJECT_PLACEHOLDERS = ("title", "bid", "event", "description")
MAX_SUBJECT_CHARS = 250
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def subject_problem(template: str) -> str | None:
    """What is wrong with a subject template, or None; only the documented placeholders are known."""
    for match in _PLACEHOLDER.finditer(template):
        if match.group(0) not in ("{{", "}}") and match.group(1) not in SUBJECT_PLACEHOLDERS:
            known = ", ".join(f"{{{name}}}" for name in SUBJECT_PLACEHOLDERS)
            return f"unknown placeholder {match.group(0)[:40]!r}; use {known}"
    return None


def fill_subject(template: str, values: dict[str, str]) -> str:
    """The subject with each placeholder replaced by its value as text, on one line, bounded."""

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole in ("{{", "}}"):
            return whole[0]
        return values.get(match.group(1), whole)

    return " ".join(_PLACEHOLDER.sub(replace, template).split())[:MAX_SUBJECT_CHARS]


@dataclass(frozen=True)
class EmailChannel:
    """E-mail with text and HTML bodies, through Amazon SES (default) or SMTP (``via: smtp``)."""

    name: str
    sender: str
    to: list[str]
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    subject: str | None = None
    configuration_set: str | None = None
    smtp: SmtpTransport | None = None
    kind: str = "email"

    @classmethod
    def from_options(cls, name: str, options: Options) -> EmailChannel:
        [sender] = options.addresses("from", required=True)[:1]
        subject = options.text("subject")
        if subject is not None:
            problem = subject_problem(subject)
            if problem:
                raise ConfigError(f"{options.where}.subject: {problem}")
        return cls(
            name,
            sender,
            options.addresses("to", required=True),
            options.addresses("cc"),
            options.addresses("bcc"),
            options.addresses("reply_to"),
            subject,
            options.text("configuration_set"),
            SmtpTransport.from_options(options)
            if options.choice("via", ("ses", "smtp"), "ses") == "smtp"
            else None,
        )

    def deliver(self, message: Message, resources: Resources) -> str:
        values = {**message.labels, "description": message.description, "title": message.title}
        subject = fill_subject(self.subject or "{title}", values)
        if self.smtp is not None:
            return self.smtp.send(self._email(message, subject), self.to + self.cc + self.bcc, resources)
        request = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": self.to, "CcAddresses": self.cc, "BccAddresses": self.bcc},
            "Content": {
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": as_plain_text(message), "Charset": "UTF-8"},
                        "Html": {"Data": as_html(message), "Charset": "UTF-8"},
                    },
                }
            },
        }
        if self.reply_to:
            request["ReplyToAddresses"] = self.reply_to
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        _ensure_time(f"e-mail {self.name} (SES)", resources)
        try:
            answer = resources.ses.send_email(**request)
        except Exception as exc:
            raise _aws_delivery_error(f"e-mail {self.name} (SES)", exc) from None
        return f"SES message {answer.get('MessageId', '?')}"

    def _email(self, message: Message, subject: str) -> EmailMessage:
        """Text and HTML alternatives; Bcc only on the envelope, never in a header."""
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = ", ".join(self.to)
        if self.cc:
            email["Cc"] = ", ".join(self.cc)
        if self.reply_to:
            email["Reply-To"] = ", ".join(self.reply_to)
        email["Subject"] = subject  # one line (fill_subject): no header injection through a newline
        email.set_content(as_plain_text(message))
        email.add_alternative(as_html(message), subtype="html")
        return email


@dataclass(frozen=True)
class SnsChannel:
    """An SNS topic: the message's document as JSON, its labels (a batch's event and bid, an alert's
    target, rule and severity) as message attributes for filtering."""

    name: str
    topic_arn: str
    subject: str | None = None
    kind: str = "sns"

    @classmethod
    def from_options(cls, name: str, options: Options) -> SnsChannel:
        arn = options.required_text("topic_arn")
        if not arn.startswith("arn:") or ":sns:" not in arn:
            raise ConfigError(f"{options.where}.topic_arn: expected an SNS topic ARN, got {arn!r}")
        return cls(name, arn, options.text("subject"))

    def deliver(self, message: Message, resources: Resources) -> str:
        subject = "".join(
            c if c.isascii() and c.isprintable() else " " for c in (self.subject or message.title)
        )
        _ensure_time(f"SNS topic {self.name}", resources)
        try:
            answer = resources.sns.publish(
                TopicArn=self.topic_arn,
                Subject=subject[:100],
                Message=json.dumps(dict(message.document)),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in message.labels.items()
                    if value
                },
            )
        except Exception as exc:
            raise _aws_delivery_error(f"SNS topic {self.name}", exc) from None
        return f"SNS message {answer.get('MessageId', '?')}"
