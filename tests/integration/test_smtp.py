"""E-mail over SMTP against a real SMTP server on 127.0.0.1 (aiosmtpd): what arrives, and what a
refusing, hesitating or vanishing server means for the batch request."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sidekiq_watch.batches.config import parse_batch_config
from sidekiq_watch.batches.delivery_log import DeliveryLog, LocalFilePersistenceLayer
from sidekiq_watch.batches.intake import IncomingRequest, receive
from sidekiq_watch.batches.render import batch_message
from sidekiq_watch.channels import Resources, build_channel
from sidekiq_watch.errors import ConfigError, DeliveryError
from sidekiq_watch.http import RetryPolicy
from sidekiq_watch.settings import load_batch_settings
from tests.support.real_sidekiq import free_port
from tests.unit.batches.helpers import sample_body, sample_event

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=3, backoff_seconds=0.01)


class Mailbox:
    """An SMTP server's behaviour, switchable by the test: accept, refuse, hesitate or hang up."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.rcpt_answer: str | None = None
        self.data_answer: str | None = None
        self.attempts = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_answer and address.startswith("refused"):
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.data_answer == "drop":
            session.transport.close()
            return "421 closing"
        if self.data_answer:
            return self.data_answer
        self.received.append(envelope)
        return "250 Message accepted"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    given = (text(auth_data.login), text(auth_data.password)) if isinstance(auth_data, LoginPassword) else ()
    return AuthResult(success=given == ("watch", "s3cr3t-smtp"), handled=False)  # aiosmtpd answers 535


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def options(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "via": "smtp",
        "address": "127.0.0.1",
        "port": port,
        "tls": "none",  # loopback; STARTTLS and implicit TLS are smtplib's own
        "user_name": "watch",
        "password": "s3cr3t-smtp",
        "from": "batches@example.com",
        "to": ["ops@example.com"],
        "bcc": ["audit@example.com"],
        **extra,
    }


def resources() -> Resources:
    return Resources(timeout=5, web_url="https://app.example.com/sidekiq", policy=FAST)


def test_the_message_arrives_with_both_parts_and_the_untrusted_text_escaped(
    smtp: tuple[Mailbox, int],
) -> None:
    from sidekiq_watch.batches.payload import BatchEvent, BatchStatus

    mailbox, port = smtp
    event = BatchEvent(
        BatchStatus.model_validate(
            {**sample_body("batch-complete-with-failures.json"), "description": "<script>x</script> import"}
        ),
        "complete",
    )
    detail = build_channel("email", options(port), "channels.email").deliver(
        batch_message(event), resources()
    )
    assert detail == "sent to 2 recipient(s)"
    [envelope] = mailbox.received
    assert envelope.mail_from == "batches@example.com"
    assert sorted(envelope.rcpt_tos) == ["audit@example.com", "ops@example.com"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert (message["From"], message["To"]) == ("batches@example.com", "ops@example.com")
    assert message["Bcc"] is None
    assert "<script>x</script> import" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Sidekiq batch" in text
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>" not in html


def test_a_refused_recipient_is_permanent_and_not_retried(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mailbox.rcpt_answer = "550 5.1.1 no such user"
    channel = build_channel("email", options(port, to=["refused@example.com"], bcc=[]), "channels.email")
    with pytest.raises(DeliveryError) as caught:
        channel.deliver(batch_message(sample_event()), resources())
    assert caught.value.permanent
    assert "550" in str(caught.value)
    assert mailbox.attempts == 0


def test_wrong_credentials_are_permanent_and_never_shown(smtp: tuple[Mailbox, int]) -> None:
    _, port = smtp
    channel = build_channel("email", options(port, password="s3cr3t-wrong"), "channels.email")
    with pytest.raises(DeliveryError) as caught:
        channel.deliver(batch_message(sample_event()), resources())
    assert caught.value.permanent
    assert "535" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize("trouble", ["451 4.3.0 try again later", "drop"])
def test_a_hesitating_server_is_retried_then_502_and_a_resend_delivers_once(
    smtp: tuple[Mailbox, int], tmp_path: Path, trouble: str
) -> None:
    mailbox, port = smtp
    mailbox.data_answer = trouble
    config = parse_batch_config({"channels": {"email": options(port)}}, "test")
    log = DeliveryLog(lambda: LocalFilePersistenceLayer(tmp_path / "deliveries.json"))
    request = IncomingRequest({"Content-Type": "application/json"}, b'{"bid": "b1", "pending": 0}')
    settings = load_batch_settings({"BATCH_AUTH": "none"}).admission
    reply = receive(settings, request, lambda: config, resources(), log)
    assert reply.status == 502
    if trouble != "drop":
        assert mailbox.attempts == 3  # the channel's retries
    assert mailbox.received == []
    mailbox.data_answer = None
    for _ in range(2):  # the sender re-sends; then a duplicate re-send
        reply = receive(settings, request, lambda: config, resources(), log)
        assert reply.status == 200
    assert len(mailbox.received) == 1


def test_port_25_is_refused_at_configuration() -> None:
    with pytest.raises(ConfigError, match="port 25"):
        build_channel("email", options(25), "channels.email")
