"""Documentation generated from the code, so the README and docs/ cannot drift from it.

``python -m sidekiq_watch.reference`` (``make docs``) rewrites the configuration reference in
``docs/configuration.md`` from the settings model, and the Block Kit examples in ``docs/slack/``
(with links that open each in Slack's Block Kit Builder) from the real renderers; the tests fail
when any is stale.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .alerts.history import History, Point
from .alerts.lifecycle import SOURCE_KEY, AlertRecord, decide, decide_source
from .alerts.messages import TargetView, render_notices
from .alerts.rules import parse_rule
from .channels.slack import slack_payload
from .settings import VARIABLES

START, END = "<!-- configuration-reference:start -->", "<!-- configuration-reference:end -->"
T0 = 1_795_590_000.0  # 2026-11-25 07:00 UTC: fixed, so the examples are reproducible


def configuration_reference() -> str:
    rows = ["| variable | meaning |", "| --- | --- |"]
    rows += [f"| `{name}` | {text.replace('|', '/')} |" for name, text in VARIABLES.items()]
    return "\n".join(rows)


def update_readme(readme: str) -> str:
    block = f"{START}\n{configuration_reference()}\n{END}"
    return re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, readme, flags=re.S)


def example_messages() -> dict[str, Any]:
    """One of every kind of message, rendered by the code that sends them."""
    view = TargetView("shop", "https://shop.example.com/sidekiq", T0)
    retries = parse_rule("retries > 50", "r")
    latency = parse_rule({"figure": "default_latency", "warning": 30, "critical": 300}, "r")
    history = History(
        tuple(
            Point(T0 - 300 * (5 - i), {"retries": v, "default_latency": 12.0 + 10 * i})
            for i, v in enumerate((8, 12, 20, 34, 61))
        )
    )
    from .alerts.rules import evaluate

    figures = {"retries": 61.0, "default_latency": 52.0, "processes": 2.0}
    firing = [decide(AlertRecord("shop", f.key), f, T0, 3600) for f in evaluate(figures, [retries, latency])]
    reminder = [decide(replace(d.record, last_notified=T0 - 3600), d.finding, T0, 3600) for d in firing[:1]]
    cleared = evaluate({"retries": 0.0}, [retries])
    resolved = [decide(replace(firing[0].record, since=T0 - 2700), cleared[0], T0, 3600)]
    down = decide_source(
        AlertRecord("shop", SOURCE_KEY, failures=1),
        "GET https://shop.example.com/sidekiq/stats: "
        "was redirected to /login (HTML, not JSON): the stats endpoint needs credentials; set "
        "SIDEKIQ_STATS_USERNAME/SIDEKIQ_STATS_PASSWORD or SIDEKIQ_STATS_TOKEN",
        T0,
        2,
        3600,
    )
    from .batches.payload import BatchEvent, BatchStatus
    from .batches.render import batch_message

    batch = BatchStatus.model_validate(
        {
            "bid": "a8b2c1d4e5f60718",
            "total": 50,
            "failures": 2,
            "pending": 2,
            "description": "Nightly import of customer records",
            "failure_info": [
                {
                    "jid": "6ea2b3a2f1c4d5e6f7a8b9c0",
                    "error_class": "Net::ReadTimeout",
                    "error_message": "execution expired",
                }
            ],
        }
    )
    job_loss_rules = [
        parse_rule({"figure": "redis_evicts", "critical": 0}, "r"),
        parse_rule("scheduled_overdue_seconds > 300", "r"),
    ]
    job_loss = [
        decide(AlertRecord("shop", f.key), f, T0, 3600)
        for f in evaluate({"redis_evicts": 1.0, "scheduled_overdue_seconds": 5400.0}, job_loss_rules)
    ]
    return {
        "alert-firing": slack_payload(render_notices(view, firing, history)),
        "alert-job-loss": slack_payload(render_notices(view, job_loss, History())),
        "alert-reminder": slack_payload(render_notices(view, reminder, history)),
        "alert-resolved": slack_payload(render_notices(view, resolved, history)),
        "alert-source-down": slack_payload(render_notices(view, [down], History())),
        "batch-complete": slack_payload(
            batch_message(BatchEvent(batch, "complete"), "https://shop.example.com/sidekiq")
        ),
    }


def block_kit_builder_document(payload: dict[str, Any]) -> str:
    """What Slack's Block Kit Builder accepts: the blocks (the text fallback is kept for reference)."""
    return (
        json.dumps({"blocks": payload["blocks"], "text": payload["text"]}, indent=2, ensure_ascii=False)
        + "\n"
    )


BLOCK_KIT_BUILDER = "https://app.slack.com/block-kit-builder/#"


def block_kit_builder_url(payload: dict[str, Any]) -> str:
    """A link that opens the message in Slack's Block Kit Builder (its URL fragment takes the JSON)."""
    from urllib.parse import quote

    return BLOCK_KIT_BUILDER + quote(
        json.dumps({"blocks": payload["blocks"]}, separators=(",", ":")), safe=""
    )


def examples_index(messages: dict[str, dict[str, Any]]) -> str:
    lines = [
        "# What sidekiq-watch sends to Slack",
        "",
        "Each example is rendered by the code that sends it (`make docs`); open one in Slack's Block Kit",
        "Builder to see it as Slack shows it.",
        "",
    ]
    for name, payload in messages.items():
        lines.append(
            f"- [{name}]({name}.json): [open in Block Kit Builder]({block_kit_builder_url(payload)})"
        )
    return "\n".join(lines) + "\n"


CONFIGURATION_DOC = Path("docs") / "configuration.md"


def write(root: Path) -> None:
    reference = root / CONFIGURATION_DOC
    reference.write_text(update_readme(reference.read_text()))
    directory = root / "docs" / "slack"
    directory.mkdir(parents=True, exist_ok=True)
    messages = example_messages()
    for name, payload in messages.items():
        (directory / f"{name}.json").write_text(block_kit_builder_document(payload))
    (directory / "README.md").write_text(examples_index(messages))


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
