from pathlib import Path

import boto3
import pytest

from sidekiq_watch.alerts.config import load_watch_config
from sidekiq_watch.errors import ConfigError
from sidekiq_watch.settings import load_poller_settings

URL = {"SIDEKIQ_STATS_URL": "https://app.example.com/sidekiq/stats"}
BUNDLED_BESIDE_RETRIES = [
    "processes < 1",
    "live_processes < 1",
    "stalled > 0",
    "scheduled_overdue_seconds > 300",
    "redis_evicts > 0",
    "redis_memory_percent > 80/95",
    "redis_evicted_keys > 0",
    "dead_added > 0",
]


def config_file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "watch.yaml"
    path.write_text(text)
    return {"SIDEKIQ_WATCH_CONFIG": str(path)}


def test_bundled_default_watches_retries_processes_a_stalled_scheduler_and_redis() -> None:
    config = load_watch_config(load_poller_settings(URL))
    [target] = config.targets
    assert target.name == "app.example.com"
    assert [r.key for r in target.rules] == ["retries > 50", *BUNDLED_BESIDE_RETRIES]
    assert all(rule.bundled for rule in target.rules)
    assert (config.repeat_interval, config.source_failures_before_alert) == (3600.0, 2)


def test_env_shorthand_adjusts_the_bundled_default() -> None:
    env = {**URL, "RETRY_THRESHOLD": "10", "REPEAT_INTERVAL": "30m", "SOURCE_FAILURES_BEFORE_ALERT": "3"}
    config = load_watch_config(load_poller_settings(env))
    assert [r.key for r in config.targets[0].rules] == ["retries > 10", *BUNDLED_BESIDE_RETRIES]
    assert (config.repeat_interval, config.source_failures_before_alert) == (1800.0, 3)


def test_document_lists_targets_with_their_own_rules(tmp_path: Path) -> None:
    env = config_file(
        tmp_path,
        """
repeat_interval: 2h
rules: ["retries > 100"]
targets:
  - name: shop
    url: https://shop.example.com/sidekiq/stats
    username: ops
    password: ssm:/shop/stats-password
    web_url: https://shop.example.com/sidekiq
    slack_channel: "#shop"
  - name: billing
    url: https://billing.example.com/sidekiq/stats
    token: secretsmanager:billing/token
    rules:
      - {figure: dead, warning: 10, critical: 100}
      - queue:mailers* > 1000
""",
    )
    config = load_watch_config(load_poller_settings(env))
    shop, billing = config.targets
    assert config.repeat_interval == 7200.0
    assert [r.key for r in shop.rules] == ["retries > 100"]
    assert shop.auth.password is not None
    assert shop.auth.password.reference == "ssm:/shop/stats-password"
    assert shop.slack_channel == "#shop"
    assert [r.key for r in billing.rules] == ["dead > 10/100", "queue:mailers* > 1000"]


def test_document_rules_win_over_retry_threshold(tmp_path: Path) -> None:
    env = {**URL, **config_file(tmp_path, "rules: ['retries > 5']"), "RETRY_THRESHOLD": "70"}
    assert [r.key for r in load_watch_config(load_poller_settings(env)).targets[0].rules] == ["retries > 5"]


def test_json_documents_are_accepted(tmp_path: Path) -> None:
    env = {**URL, **config_file(tmp_path, '{"rules": [{"figure": "enqueued", "threshold": 5000}]}')}
    assert [r.key for r in load_watch_config(load_poller_settings(env)).targets[0].rules] == [
        "enqueued > 5000"
    ]


def test_document_from_ssm(aws: None) -> None:
    boto3.client("ssm").put_parameter(Name="/sw/config", Value="rules: ['dead > 3']", Type="String")
    env = {**URL, "SIDEKIQ_WATCH_CONFIG": "ssm:/sw/config"}
    assert [r.key for r in load_watch_config(load_poller_settings(env)).targets[0].rules] == ["dead > 3"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "targets: [{name: a, url: 'https://a/s', rules: ['retries >> 1']}]",
            r"targets\[0\] \(a\).rules\[0\] \('retries >> 1'\)",
        ),
        ("targets: [{url: 'https://a/s'}]", r"targets\[0\].name: required"),
        ("targets: [{name: a, url: 'ftp://a/s'}]", r"targets\[0\] \(a\).url: unsupported scheme 'ftp'"),
        ("targets: [{name: a, url: 'https://a/s'}, {name: a, url: 'https://b/s'}]", "'a' is used by another"),
        (
            "targets: [{name: a, url: 'https://a/s', username: ops}]",
            r"targets\[0\] \(a\).username and targets\[0\] \(a\).password: set both",
        ),
        ("repeat_interval: soon", "repeat_interval: expected a duration"),
        ("rules: []", "rules: expected a non-empty list"),
        ("target: []", r"unknown field\(s\) target"),
        ("rules: [retries > 5", "not valid YAML or JSON at line 1"),
    ],
)
def test_bad_documents_say_where(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_watch_config(load_poller_settings({**URL, **config_file(tmp_path, text)}))


def test_without_targets_the_stats_url_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SIDEKIQ_STATS_URL: not set"):
        load_watch_config(load_poller_settings({}))


def test_rules_of_ones_own_are_not_bundled(tmp_path: Path) -> None:
    env = {**URL, **config_file(tmp_path, "rules: ['live_processes < 1']")}
    [rule] = load_watch_config(load_poller_settings(env)).targets[0].rules
    assert not rule.bundled


def test_a_json_document_is_parsed_without_the_yaml_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pure-Python YAML parser took 0.2 s of CPU for 1,000 targets, every poll."""
    import sys

    monkeypatch.setitem(sys.modules, "yaml", None)  # importing it now raises ImportError
    env = config_file(tmp_path, '{"targets": [{"name": "shop", "url": "https://shop.example.com/s"}]}')
    [target] = load_watch_config(load_poller_settings(env)).targets
    assert target.name == "shop"


def test_yaml_flow_style_that_is_not_json_is_still_read_as_yaml(tmp_path: Path) -> None:
    env = config_file(tmp_path, "{targets: [{name: shop, url: 'https://shop.example.com/s'}]}")
    [target] = load_watch_config(load_poller_settings(env)).targets
    assert target.name == "shop"


def test_broken_json_is_named_as_yaml_or_json_with_its_line(tmp_path: Path) -> None:
    env = config_file(tmp_path, '{"targets": [\n  {"name": "shop",,}\n]}')
    with pytest.raises(ConfigError, match=r"watch.yaml: not valid YAML or JSON at line 2"):
        load_watch_config(load_poller_settings(env))


def test_the_poller_validates_a_document_again_only_when_its_text_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sidekiq_watch.alerts import config as module

    parsed: list[str] = []
    real = module.parse_document
    monkeypatch.setattr(
        module, "parse_document", lambda text, origin: parsed.append(text) or real(text, origin)
    )
    env = config_file(tmp_path, "targets: [{name: shop, url: 'https://shop.example.com/s'}]\n")
    settings = load_poller_settings(env)
    first = module.current_watch_config(settings)
    assert module.current_watch_config(settings) is first
    assert [text for text in parsed if "shop" in text] == [Path(env["SIDEKIQ_WATCH_CONFIG"]).read_text()]
    Path(env["SIDEKIQ_WATCH_CONFIG"]).write_text(
        "targets: [{name: cart, url: 'https://cart.example.com/s'}]\n"
    )
    [target] = module.current_watch_config(settings).targets
    assert target.name == "cart"
    assert len([text for text in parsed if "cart" in text]) == 1
