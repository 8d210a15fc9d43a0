"""`sidekiq-watch silence add | list | expire` (issue 27), sharing the alert state with the poller,
and `check` naming what each active silence keeps quiet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sidekiq_watch.cli import EXIT_ALERT, EXIT_CONFIG, EXIT_OK, main
from tests.conftest import EVENTS

LOUD = str(EVENTS / "stats" / "handwritten.json")  # retries 60


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state.json"
    monkeypatch.setenv("STATE_FILE", str(path))
    monkeypatch.setenv("SIDEKIQ_STATS_URL", LOUD)
    monkeypatch.setenv("SIDEKIQ_SOURCE_NAME", "shop")
    return path


def test_a_silence_added_from_the_command_line_keeps_the_poll_quiet(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "silence",
                "add",
                "--match",
                "rule=retries*",
                "--for",
                "2h",
                "--comment",
                "deploy 4711",
                "--author",
                "alice",
            ]
        )
        == EXIT_OK
    )
    silence_id = capsys.readouterr().out.strip()
    assert re.fullmatch(r"[0-9a-f]{8}", silence_id)
    main(["poll"])
    captured = capsys.readouterr()
    assert "Sidekiq alert" not in captured.out  # not announced
    assert main(["check"]) == EXIT_ALERT  # it fires all the same
    out = capsys.readouterr().out
    assert f"{silence_id} (rule=retries*, the silence by alice (deploy 4711)): shop retries > 50" in out
    main(["silence", "list"])
    listed = capsys.readouterr().out
    assert re.search(rf"{silence_id}  active   rule=retries\*  by alice  .* -> .*  deploy 4711", listed)
    assert main(["silence", "expire", silence_id]) == EXIT_OK
    capsys.readouterr()
    main(["silence", "list"])
    assert f"{silence_id}  expired" in capsys.readouterr().out
    main(["poll"])  # the silence ended while the alert fires: announced once
    assert "after the silence by alice (deploy 4711) ended" in capsys.readouterr().out
    stored = json.loads(state.read_text())
    assert list(stored["silences"]) == [silence_id]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["silence", "add", "--for", "1h"], "--match: give at least one matcher"),
        (["silence", "add", "--match", "target=shop", "--for", "30d"], "--for: at most 7d"),
        (["silence", "expire", "nope"], "silence 'nope': no such silence"),
    ],
)
def test_a_bad_silence_command_names_what_is_wrong(
    state: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == EXIT_CONFIG
    assert message in capsys.readouterr().err
