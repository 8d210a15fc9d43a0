"""E-mail over SMTP, as Sidekiq Pro 2's e-mail notifier sent it through Pony (`via: :smtp`).

Submission ports only in practice: Lambda blocks outbound port 25, so 587 (STARTTLS) or 465
(implicit TLS). A 5xx answer is permanent (not retried: the address or the credentials are wrong);
a 4xx answer, a dropped connection or a timeout is transient (retried, then the sender re-sends).
"""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

from ...errors import ConfigError, DeliveryError
from ...secrets import Secret
from .base import Options, Resources

Security = Literal["starttls", "tls", "none"]
SMTP_OPTIONS = {"address", "port", "user_name", "password", "authentication", "domain", "tls"}


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
        try:
            if self.security == "tls":
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.address, self.port, local_hostname=self.domain, timeout=timeout, context=context
                )
            else:
                server = smtplib.SMTP(self.address, self.port, local_hostname=self.domain, timeout=timeout)
            with server:
                if self.security == "starttls":
                    server.starttls(context=context)
                if self.user_name is not None and self.password is not None:
                    server.user, server.password = self.user_name, self.password.reveal()
                    mechanism = "PLAIN" if self.authentication == "plain" else "LOGIN"
                    server.ehlo_or_helo_if_needed()
                    method = server.auth_plain if mechanism == "PLAIN" else server.auth_login
                    server.auth(mechanism, method)
                refused = server.send_message(message, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            shown = ", ".join(map(str, codes))
            raise self._error(
                f"every recipient refused (SMTP {shown})", all(c >= 500 for c in codes)
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise self._error(f"SMTP {exc.smtp_code}", exc.smtp_code >= 500) from None
        except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise self._error(f"the connection failed ({type(exc).__name__})", False) from None
        if refused:
            # Partly delivered: a retry would send it twice to those who have it. Told, not retried.
            return f"sent; {len(refused)} of {len(recipients)} recipients refused"
        return f"sent to {len(recipients)} recipient(s)"

    def _error(self, detail: str, permanent: bool) -> DeliveryError:
        advice = "not retried, a retry cannot fix this" if permanent else "will be retried"
        return DeliveryError(self.location, f"{detail}: {advice}", permanent=permanent)
