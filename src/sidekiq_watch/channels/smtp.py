"""E-mail over SMTP, as Sidekiq Pro 2's e-mail notifier sent it through Pony (`via: :smtp`).

Submission ports only in practice: Lambda blocks outbound port 25, so 587 (STARTTLS) or 465
(implicit TLS). A 5xx answer is permanent (not retried: the address or the credentials are wrong);
a 4xx answer, a dropped connection or a timeout is transient (retried, then the sender re-sends).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal

from ..deadline import cut_at, shut_down
from ..errors import ConfigError, DeliveryError
from ..secrets import Secret
from .base import Options, Resources

Security = Literal["starttls", "tls", "none"]
SMTP_OPTIONS = {"address", "port", "user_name", "password", "authentication", "domain", "tls"}


# A reply is a few lines; a server sending more is broken or hostile, and would fill the memory.
MAX_REPLY_LINES = 100
MAX_REPLY_BYTES = 64 * 1024
MAX_LINE_BYTES = 8192  # RFC 5321 allows 512; smtplib's own limit


class ReplyTooLong(smtplib.SMTPException):
    """The server's reply exceeded MAX_REPLY_LINES lines or MAX_REPLY_BYTES bytes."""


class _BoundedReplies(smtplib.SMTP):
    """smtplib's client with every reply bounded in lines and bytes (smtplib bounds a line only)."""

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> tuple[int, bytes]:
        # Made without a host (so the deadline's watch starts before the banner is read), smtplib
        # would verify TLS (implicit, and STARTTLS) against an empty name: it takes the name its
        # constructor was given, kept as _host.
        self._host = host
        return super().connect(host, port, source_address)

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None:
            if self.sock is None:
                raise smtplib.SMTPServerDisconnected("not connected")
            self.file = self.sock.makefile("rb")
        lines: list[bytes] = []
        size = 0
        while True:
            try:
                line = self.file.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                self.close()
                raise smtplib.SMTPServerDisconnected(
                    f"connection lost while reading a reply ({exc.errno})"
                ) from None
            if not line or (not line.endswith(b"\n") and len(line) <= MAX_LINE_BYTES):
                # A line cut short (the deadline shut the socket) is no reply, whatever it began with.
                self.close()
                raise smtplib.SMTPServerDisconnected("connection closed while reading a reply")
            size += len(line)
            lines.append(line)
            if len(line) > MAX_LINE_BYTES or size > MAX_REPLY_BYTES or len(lines) > MAX_REPLY_LINES:
                self.close()
                raise ReplyTooLong(f"more than {MAX_REPLY_LINES} lines or {MAX_REPLY_BYTES} bytes")
            if line[3:4] != b"-":
                break
        code_text = lines[-1][:3]
        code = int(code_text) if code_text.isdigit() else -1
        return code, b"\n".join(line[4:].strip(b" \t\r\n") for line in lines)


class _BoundedSMTP(_BoundedReplies):
    pass


class _BoundedSMTP_SSL(smtplib.SMTP_SSL, _BoundedReplies):
    pass


@dataclass(frozen=True)
class SmtpTransport:
    address: str
    port: int = 587
    security: Security = "starttls"
    user_name: str | None = None
    password: Secret | None = None
    authentication: Literal["plain", "login"] = "plain"
    domain: str | None = None  # HELO/EHLO name

    @classmethod
    def from_options(cls, options: Options) -> SmtpTransport:
        port_text = options.text("port", default="587") or "587"
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"{options.where}.port: expected a port number such as 587 or 465")
        port = int(port_text)
        if port == 25:
            raise ConfigError(f"{options.where}.port: Lambda blocks outbound port 25; use 587 or 465")
        security = options.choice("tls", ("starttls", "tls", "none"), "tls" if port == 465 else "starttls")
        user_name, password = options.text("user_name"), options.secret("password")
        if (user_name is None) != (password is None):
            raise ConfigError(f"{options.where}: set both user_name and password for SMTP auth, or neither")
        return cls(
            options.required_text("address"),
            port,
            security,  # type: ignore[arg-type]  # one of the choices above
            user_name,
            password,
            options.choice("authentication", ("plain", "login"), "plain"),  # type: ignore[arg-type]
            options.text("domain"),
        )

    @property
    def location(self) -> str:
        return f"SMTP {self.address}:{self.port}"

    def send(self, message: EmailMessage, recipients: list[str], resources: Resources) -> str:
        """Send, retrying transient failures within the channel's policy and the request's deadline."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send_once(message, recipients, min(resources.timeout, resources.time_left()))
            except DeliveryError as exc:
                wait = resources.policy.backoff(attempt)
                if exc.permanent or attempt >= resources.policy.attempts:
                    raise
                if resources.time_left() < wait + resources.timeout:
                    raise
                time.sleep(wait)

    def _send_once(self, message: EmailMessage, recipients: list[str], timeout: float) -> str:
        if timeout <= 0:
            raise DeliveryError(
                self.location, "no time left in this request (will be retried)", permanent=False
            )
        context = ssl.create_default_context()
        server: smtplib.SMTP = (
            _BoundedSMTP_SSL(local_hostname=self.domain, timeout=timeout, context=context)
            if self.security == "tls"
            else _BoundedSMTP(local_hostname=self.domain, timeout=timeout)
        )
        # Connecting reads the banner: the whole conversation, banner included, ends by the deadline.
        with cut_at(time.monotonic() + timeout, lambda: shut_down(server.sock)) as cut:
            try:
                return self._converse(server, message, recipients, context)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = sorted({code for code, _ in exc.recipients.values()})
                shown = ", ".join(map(str, codes))
                raise self._error(
                    f"every recipient refused (SMTP {shown})", all(c >= 500 for c in codes)
                ) from None
            except ReplyTooLong:
                raise self._error("the server's reply was too long (lines or bytes)", False) from None
            except smtplib.SMTPResponseException as exc:
                if cut.expired:
                    raise self._error("timed out: the conversation outlasted the time left", False) from None
                raise self._error(f"SMTP {exc.smtp_code}", exc.smtp_code >= 500) from None
            except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
                if cut.expired:
                    raise self._error("timed out: the conversation outlasted the time left", False) from None
                raise self._error(f"the connection failed ({type(exc).__name__})", False) from None
            finally:
                server.close()

    def _converse(
        self, server: smtplib.SMTP, message: EmailMessage, recipients: list[str], context: ssl.SSLContext
    ) -> str:
        server.connect(self.address, self.port)
        if self.security == "starttls":
            server.starttls(context=context)
        if self.user_name is not None and self.password is not None:
            server.user, server.password = self.user_name, self.password.reveal()
            mechanism = "PLAIN" if self.authentication == "plain" else "LOGIN"
            server.ehlo_or_helo_if_needed()
            method = server.auth_plain if mechanism == "PLAIN" else server.auth_login
            server.auth(mechanism, method)
        refused = server.send_message(message, to_addrs=recipients)
        with contextlib.suppress(smtplib.SMTPException, OSError):
            server.quit()
        if refused:
            # Partly delivered: a retry would send it twice to those who have it. Told, not retried.
            return f"sent; {len(refused)} of {len(recipients)} recipients refused"
        return f"sent to {len(recipients)} recipient(s)"

    def _error(self, detail: str, permanent: bool) -> DeliveryError:
        advice = "not retried, a retry cannot fix this" if permanent else "will be retried"
        return DeliveryError(self.location, f"{detail}: {advice}", permanent=permanent)
