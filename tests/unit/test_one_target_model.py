"""A target from the environment and one from the configuration document obey the same rules."""

from __future__ import annotations

from typing import Any

import pytest

from sidekiq_watch.alerts.config import load_watch_config
from sidekiq_watch.errors import ConfigError
from sidekiq_watch.settings import load_poller_settings

CASES = [
    (
        {"url": "https://a.example/stats", "token": "s3cr3t-t", "username": "u", "password": "s3cr3t-p"},
        "token",
    ),
    ({"url": "https://a.example/stats", "token": "s3cr3t-t", "token_header": "X Bad:"}, "token_header"),
    ({"url": "redis://:s3cr3t-in-url@cache.example:6379/0"}, "password"),
    ({"url": "gopher://a.example/stats"}, "scheme"),
    ({"url": "https:///stats"}, "host"),
]
ENV_NAMES = {
    "url": "SIDEKIQ_STATS_URL",
    "username": "SIDEKIQ_STATS_USERNAME",
    "password": "SIDEKIQ_STATS_PASSWORD",
    "token": "SIDEKIQ_STATS_TOKEN",
    "token_header": "SIDEKIQ_STATS_TOKEN_HEADER",
}


@pytest.mark.parametrize(("fields", "named"), CASES, ids=[c[1] for c in CASES])
def test_both_kinds_of_target_refuse_the_same_mistakes(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as from_env:
        load_poller_settings({ENV_NAMES[k]: v for k, v in fields.items()})
    with pytest.raises(ConfigError) as from_document:
        load_watch_config(load_poller_settings({}), {"targets": [{"name": "a", **fields}]}, "test")
    for caught in (from_env, from_document):
        assert named in str(caught.value).lower(), str(caught.value)
        assert "s3cr3t" not in str(caught.value)
