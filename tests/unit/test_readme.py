"""The README says what the code does: every setting documented, its example configuration valid."""

import re

from sidekiq_watch.alerts.config import load_watch_config
from sidekiq_watch.settings import VARIABLES, load_settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [name for name in VARIABLES if f"`{name}`" not in README]
    assert missing == []


def test_the_example_configuration_document_is_valid() -> None:
    import yaml

    section = README[README.index("## The configuration document") :]
    [example] = re.findall(r"```yaml\n(.*?)```", section, re.S)[:1]
    config = load_watch_config(load_settings({}), yaml.safe_load(example), "README")
    assert [t.name for t in config.targets] == ["shop", "billing"]
    assert len(config.targets[1].rules) == 4


def test_the_example_batch_configuration_is_valid() -> None:
    import yaml

    from sidekiq_watch.batches.config import parse_batch_config

    section = README[README.index("### Channels and routes") :]
    example = re.findall(r"```yaml\n(.*?)```", section, re.S)[0]
    config = parse_batch_config(yaml.safe_load(example), "README")
    assert [r.name for r in config.routes] == ["imports", "failures-elsewhere"]


def test_the_ruby_callback_shown_is_the_tested_one() -> None:
    shown = re.findall(r"```ruby\n(.*?)```", README, re.S)[0]
    tested = (ROOT / "docs" / "sidekiq_watch_callback.rb").read_text()
    class_body = shown[: shown.index("batch.on(")].strip()
    assert class_body in tested


def test_the_configuration_reference_is_generated_from_the_settings_model() -> None:
    from sidekiq_watch.reference import update_readme

    assert update_readme(README) == README, "run `make docs`: the README's configuration reference is stale"


def test_the_block_kit_examples_are_what_the_code_renders() -> None:
    from sidekiq_watch.reference import block_kit_builder_document, example_messages

    for name, payload in example_messages().items():
        path = ROOT / "docs" / "slack" / f"{name}.json"
        assert path.read_text() == block_kit_builder_document(payload), f"run `make docs`: {path} is stale"


def test_troubleshooting_covers_every_error_class_and_source_failure() -> None:
    import typing

    from sidekiq_watch.errors import SourceKind

    section = README[README.index("## Troubleshooting") :]
    for kind in typing.get_args(SourceKind):
        assert f"`{kind}`" in section, kind
    for error in ("ConfigError", "SecretError", "SourceError", "DeliveryError", "StateStoreError"):
        assert error in section, error
