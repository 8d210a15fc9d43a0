"""The README says what the code does: every setting documented, its example configuration valid."""

import re
from pathlib import Path

import pytest
import responses

from sidekiq_watch.alerts.config import load_watch_config
from sidekiq_watch.settings import VARIABLES, load_poller_settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
BATCHES = (ROOT / "docs" / "batch-notifications.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [name for name in VARIABLES if f"`{name}`" not in CONFIGURATION]
    assert missing == []


def test_the_example_configuration_document_is_valid() -> None:
    import yaml

    section = CONFIGURATION[CONFIGURATION.index("## The configuration document") :]
    [example] = re.findall(r"```yaml\n(.*?)```", section, re.S)[:1]
    config = load_watch_config(load_poller_settings({}), yaml.safe_load(example), "README")
    assert [t.name for t in config.targets] == ["shop", "billing"]
    rules = config.targets[1].rules
    assert len(rules) == 6
    assert (rules[4].hold_for, rules[5].hold_for, rules[5].keep_firing_for) == (900.0, 600.0, 600.0)
    assert rules[5].runbook == "https://wiki.example.com/runbooks/sidekiq-latency"


def test_the_example_batch_configuration_is_valid() -> None:
    import yaml

    from sidekiq_watch.batches.config import parse_batch_config

    section = BATCHES[BATCHES.index("### Channels and routes") :]
    example = re.findall(r"```yaml\n(.*?)```", section, re.S)[0]
    config = parse_batch_config(yaml.safe_load(example), "README")
    assert [r.name for r in config.routes] == ["imports", "failures-elsewhere"]


def test_the_ruby_callback_shown_is_the_tested_one() -> None:
    shown = re.findall(r"```ruby\n(.*?)```", BATCHES, re.S)[0]
    tested = (ROOT / "docs" / "sidekiq_watch_callback.rb").read_text()
    class_body = shown[: shown.index("batch.on(")].strip()
    assert class_body in tested


def test_the_configuration_reference_is_generated_from_the_settings_model() -> None:
    from sidekiq_watch.reference import update_readme

    assert update_readme(CONFIGURATION) == CONFIGURATION, "run `make docs`: docs/configuration.md is stale"


def test_the_block_kit_examples_are_what_the_code_renders() -> None:
    from sidekiq_watch.reference import block_kit_builder_document, example_messages

    for name, payload in example_messages().items():
        path = ROOT / "docs" / "slack" / f"{name}.json"
        assert path.read_text() == block_kit_builder_document(payload), f"run `make docs`: {path} is stale"


def test_each_example_opens_in_block_kit_builder() -> None:
    import json
    from urllib.parse import unquote

    from sidekiq_watch.reference import BLOCK_KIT_BUILDER, example_messages, examples_index

    index = ROOT / "docs" / "slack" / "README.md"
    assert index.read_text() == examples_index(example_messages()), "run `make docs`: docs/slack/README.md"
    links = re.findall(r"\(" + re.escape(BLOCK_KIT_BUILDER) + r"([^)]*)\)", index.read_text())
    assert len(links) == len(example_messages())
    for link, payload in zip(links, example_messages().values(), strict=True):
        assert json.loads(unquote(link)) == {"blocks": payload["blocks"]}


def test_the_readme_reads_in_order_and_stays_short() -> None:
    headings = re.findall(r"^## (.+)$", README, re.M)
    order = [
        "Quick start",
        "From zero to alerts in Slack",
        "Deploy",
        "Configure",
        "Local invoke",
        "Troubleshooting",
    ]
    assert [next(h for h in headings if h.startswith(o)) for o in order] == [
        h for h in headings if any(h.startswith(o) for o in order)
    ]
    assert len(README.splitlines()) < 250
    assert "**Contents**" in README
    for target in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / target).exists(), target


def test_troubleshooting_covers_every_error_class_and_source_failure() -> None:
    import typing

    from sidekiq_watch.errors import SourceKind

    section = README[README.index("## Troubleshooting") :]
    for kind in typing.get_args(SourceKind):
        assert f"`{kind}`" in section, kind
    for error in ("ConfigError", "SecretError", "SourceError", "DeliveryError", "StateStoreError"):
        assert error in section, error


def readme_commands() -> list[str]:
    """Every complete `sidekiq-watch SUBCOMMAND …` line the README shows, in blocks or inline."""
    blocks = "\n".join(re.findall(r"```sh\n(.*?)```", README, re.S)).replace("\\\n", " ")
    lines = [line.split("#")[0].strip() for line in blocks.splitlines()]
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    inline = re.findall(r"`([^`\n]*sidekiq-watch (?:poll|check|test-notify|invoke)[^`\n]*)`", prose)
    found = [c for c in lines + inline if re.search(r"sidekiq-watch (poll|check|test-notify|invoke)\b", c)]
    # Prose that names a command ("exit statuses of `sidekiq-watch poll`") is not one to run.
    return [c for c in found if c not in ("sidekiq-watch poll", "sidekiq-watch invoke")]


@responses.activate
def test_every_sidekiq_watch_command_in_the_readme_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Against stand-ins for the README's example hosts; each parses and ends with a documented status."""
    import shlex

    from sidekiq_watch.cli import main

    stats = (ROOT / "events" / "stats" / "sidekiq-web-stats.json").read_text()
    responses.get("https://app.example.com/sidekiq/stats", body=stats, content_type="application/json")
    responses.post(re.compile(r"https://hooks\.slack\.com/services/.*"), body="ok")
    (tmp_path / "watch.yaml").write_text(
        "targets:\n  - name: shop\n    url: https://app.example.com/sidekiq/stats\n"
    )
    monkeypatch.chdir(tmp_path)
    commands = readme_commands()
    assert len(commands) >= 5, commands
    for command in commands:
        words = shlex.split(command.replace("…", "x").replace("...", "x"))
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            monkeypatch.setenv(name, value)
        assert words[0].endswith("sidekiq-watch"), command
        if words[1] == "test-notify":
            monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/x")
        status = main(words[1:])
        assert status in (0, 1), (command, status, capsys.readouterr().err[-500:])


def test_the_readme_s_routing_example_is_a_valid_document() -> None:
    """Chat for warnings, the pager for critical ones: the team's routing the README shows."""
    import yaml

    section = README[README.index("## Configure") :]
    [example] = [block for block in re.findall(r"```yaml\n(.*?)```", section, re.S) if "receivers:" in block]
    config = load_watch_config(
        load_poller_settings(
            {"SIDEKIQ_STATS_URL": "https://a.example/stats", "SIDEKIQ_WATCH_CONFIG": "watch.yaml"}
        ),
        yaml.safe_load(example),
        "README",
    )
    assert config.route is not None
    labels = {"target": "a.example", "rule": "retries > 50", "severity": "critical"}
    assert config.route.receivers(labels) == ("pager",)
    assert config.route.receivers({**labels, "severity": "warning"}) == ("ops-chat",)
    assert config.heartbeat_url is not None
    assert config.targets[0].rules[0].hold_for == 900.0
