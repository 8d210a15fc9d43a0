import base64

import pytest

from sidekiq_watch.batches.auth import is_authorized
from sidekiq_watch.settings import load_batch_settings

BASIC = load_batch_settings(
    {"BATCH_AUTH_USERNAME": "sidekiq", "BATCH_AUTH_PASSWORD": "s3cr3t-pw"}
).admission.auth
TOKEN = load_batch_settings(
    {"BATCH_AUTH_TOKEN": "s3cr3t-t0ken", "BATCH_AUTH_TOKEN_HEADER": "X-Watch-Token"}
).admission.auth


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def test_right_basic_credentials_pass() -> None:
    assert is_authorized(BASIC, basic("sidekiq:s3cr3t-pw"))


def test_header_names_are_case_insensitive() -> None:
    assert is_authorized(BASIC, {"authorization": basic("sidekiq:s3cr3t-pw")["Authorization"]})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("sidekiq:wrong"),
        basic("other:s3cr3t-pw"),
        basic("sidekiq"),
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer s3cr3t-pw"},
        {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()},
    ],
    ids=["missing", "wrong-password", "wrong-user", "no-colon", "malformed", "wrong-scheme", "not-utf8"],
)
def test_wrong_missing_or_malformed_basic_is_refused(headers: dict[str, str]) -> None:
    assert not is_authorized(BASIC, headers)


def test_token_in_its_header_passes_and_a_wrong_one_does_not() -> None:
    assert is_authorized(TOKEN, {"X-Watch-Token": "s3cr3t-t0ken"})
    assert not is_authorized(TOKEN, {"X-Watch-Token": "s3cr3t-t0ke"})
    assert not is_authorized(TOKEN, {})


def test_no_auth_configured_lets_nothing_in() -> None:
    assert not is_authorized(load_batch_settings({}).admission.auth, {})


def test_batch_auth_none_lets_requests_in() -> None:
    assert is_authorized(load_batch_settings({"BATCH_AUTH": "none"}).admission.auth, {})


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    is_authorized(BASIC, basic("wrong:s3cr3t-pw"))
    assert len(compared) == 2  # user and password both compared, whatever was wrong
