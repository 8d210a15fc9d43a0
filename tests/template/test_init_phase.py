"""What each handler makes at init, where Lambda's CPU is unthrottled (issue 28, bench/lambda_model.py):
only what the configuration uses, and never a failed init where the first invocation would answer."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import EVENTS, ROOT
from tests.template.test_build import BLOCK, CONTEXT, assert_runs

IN_LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "PollerFunction", "AWS_REGION": "us-east-1"}


def environment(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STATE_TABLE", "DELIVERY_TABLE", "BATCH_CONFIG")}
    return {
        **env,
        "XDG_STATE_HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        **values,
    }


def test_the_poller_makes_its_dynamodb_client_and_session_at_init(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sidekiq_watch.handlers import poller\n"
        "assert 'boto3' in sys.modules\n"
        "assert poller.state_store.cache_info().currsize == 1, 'no store made at init'\n"
        "assert poller.state_store()._client is not None, 'the client is left to the first read'\n"
        "assert poller.http_session.cache_info().currsize == 1\n"
    )
    assert_runs(code, cwd=ROOT, env=environment(tmp_path, STATE_TABLE="state", **IN_LAMBDA))


def test_the_pollers_init_imports_no_boto3_when_the_state_is_a_local_file(tmp_path: Path) -> None:
    code = (
        "BLOCKED = ('boto3', 'botocore', 'yaml', 'redis')\n" + BLOCK + "import json\n"
        "from sidekiq_watch.handlers import poller\n"
        "assert poller.state_store.cache_info().currsize == 1\n"
        + CONTEXT
        + f"report = poller.handler(json.load(open({str(EVENTS / 'scheduled.json')!r})), Context())\n"
        "assert report['targets'][0]['findings'][0]['status'] == 'firing', report\n"
    )
    env = environment(tmp_path, SIDEKIQ_STATS_URL="events/stats/handwritten.json", **IN_LAMBDA)
    assert_runs(code, cwd=ROOT, env=env)


def test_a_bad_setting_fails_the_first_invocation_not_the_init(tmp_path: Path) -> None:
    code = (
        "from sidekiq_watch.handlers import poller\n"
        "from sidekiq_watch.errors import ConfigError\n" + CONTEXT + "try:\n"
        "    poller.handler({}, Context())\n"
        "except ConfigError as exc:\n"
        "    assert 'HTTP_TIMEOUT_SECONDS' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('no ConfigError')\n"
    )
    env = environment(tmp_path, STATE_TABLE="state", HTTP_TIMEOUT_SECONDS="soon", **IN_LAMBDA)
    assert_runs(code, cwd=ROOT, env=env)


def test_the_batch_function_makes_its_delivery_client_and_reads_its_channels_at_init(tmp_path: Path) -> None:
    config = tmp_path / "batches.yaml"
    config.write_text("channels:\n  hook:\n    type: webhook\n    url: https://hooks.example.com/x\n")
    code = (
        "import sys\n"
        "from sidekiq_watch.handlers import batch_webhook\n"
        "assert batch_webhook.persistence.cache_info().currsize == 1, 'no delivery records at init'\n"
        "assert 'boto3' in sys.modules\n"
        "assert 'yaml' in sys.modules, 'the channel document was left to the first request'\n"
    )
    env = environment(
        tmp_path,
        DELIVERY_TABLE="deliveries",
        BATCH_CONFIG=str(config),
        BATCH_AUTH_USERNAME="sidekiq",
        BATCH_AUTH_PASSWORD="change-me",
        **{**IN_LAMBDA, "AWS_LAMBDA_FUNCTION_NAME": "BatchNotificationsFunction"},
    )
    assert_runs(code, cwd=ROOT, env=env)


def test_outside_lambda_importing_a_handler_makes_nothing(tmp_path: Path) -> None:
    """A test's or the CLI's import reads no settings: they may be set after it."""
    code = (
        "import sys\n"
        "from sidekiq_watch.handlers import poller, batch_webhook\n"
        "assert poller.current_settings.cache_info().currsize == 0\n"
        "assert batch_webhook.current_settings.cache_info().currsize == 0\n"
        "assert poller.state_store.cache_info().currsize == 0\n"
    )
    env = environment(tmp_path, STATE_TABLE="state", DELIVERY_TABLE="d")
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    assert_runs(code, cwd=ROOT, env=env)
