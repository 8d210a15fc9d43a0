"""Who may post batch events: HTTP Basic or a shared token, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from ..settings import Settings


def credentials_configured(settings: Settings) -> bool:
    return settings.batch_auth_password is not None or settings.batch_auth_token is not None


def fails_closed(settings: Settings) -> bool:
    """No credentials and no explicit BATCH_AUTH=none: nothing can be checked, so nothing is let in."""
    return not credentials_configured(settings) and not settings.batch_auth_disabled


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def is_authorized(settings: Settings, headers: Mapping[str, str]) -> bool:
    """True when the request carries the right credentials, or BATCH_AUTH=none turned them off.

    Reading a referenced secret may raise SecretError: the caller answers 503, never 'allowed'.
    """
    if settings.batch_auth_password is not None and settings.batch_auth_username is not None:
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
        user_ok = _same(username, settings.batch_auth_username)
        password_ok = _same(password, settings.batch_auth_password.reveal())
        return bool(sep) and user_ok and password_ok
    if settings.batch_auth_token is not None:
        name = settings.batch_auth_token_header
        given = _header(headers, name) or ""
        if name.lower() == "authorization":
            scheme, _, given = given.partition(" ")
            if scheme.lower() != "bearer":
                return False
        return _same(given.strip(), settings.batch_auth_token.reveal())
    return settings.batch_auth_disabled


def challenge(settings: Settings) -> str:
    if settings.batch_auth_password is not None:
        return 'Basic realm="sidekiq-watch", charset="UTF-8"'
    return 'Bearer realm="sidekiq-watch"'
