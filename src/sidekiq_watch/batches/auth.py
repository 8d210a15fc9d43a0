"""Who may post batch events: HTTP Basic or a shared token, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from ..secrets import Secret


@dataclass(frozen=True)
class BatchAuth:
    """The credentials a request must carry: HTTP Basic, a shared token, or (``disabled``) none."""

    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    token_header: str = "Authorization"  # noqa: S105 - a header name
    disabled: bool = False

    @property
    def fails_closed(self) -> bool:
        """No credentials and not explicitly disabled: nothing can be checked, so nothing is let in."""
        return self.password is None and self.token is None and not self.disabled

    def challenge(self) -> str:
        if self.password is not None:
            return 'Basic realm="sidekiq-watch", charset="UTF-8"'
        return 'Bearer realm="sidekiq-watch"'


@dataclass(frozen=True)
class Admission:
    """What a request must satisfy before its body is read: who may send, and how much."""

    auth: BatchAuth
    max_body_bytes: int


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def is_authorized(auth: BatchAuth, headers: Mapping[str, str]) -> bool:
    """True when the request carries the right credentials, or authentication is turned off.

    Reading a referenced secret may raise SecretError: the caller answers 503, never 'allowed'.
    """
    if auth.password is not None and auth.username is not None:
        header = _header(headers, "Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, sep, password = (
                base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        # Both compared, always: the time taken says nothing about which part was wrong.
        user_ok = _same(username, auth.username)
        password_ok = _same(password, auth.password.reveal())
        return bool(sep) and user_ok and password_ok
    if auth.token is not None:
        name = auth.token_header
        given = _header(headers, name) or ""
        if name.lower() == "authorization":
            scheme, _, given = given.partition(" ")
            if scheme.lower() != "bearer":
                return False
        return _same(given.strip(), auth.token.reveal())
    return auth.disabled
