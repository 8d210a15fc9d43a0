import json

import pytest

from sidekiq_watch.errors import SourceError
from sidekiq_watch.stats import parse_stats
from tests.conftest import EVENTS


def sample(name: str) -> object:
    return json.loads((EVENTS / "stats" / name).read_text())


def test_handwritten_shape_gives_enqueued_queues_and_retries() -> None:
    snapshot = parse_stats(sample("handwritten.json"))
    assert snapshot.shape == "handwritten"
    assert (snapshot.enqueued, snapshot.retries) == (40, 60)
    assert snapshot.queues == {"default": 0, "stalled": 40}


def test_figures_a_shape_lacks_are_absent_not_zero() -> None:
    snapshot = parse_stats(sample("handwritten.json"))
    assert snapshot.dead is None
    assert snapshot.processes is None
    assert "dead" not in snapshot.figures()


def test_sidekiq_web_stats_shape_reads_every_figure() -> None:
    snapshot = parse_stats(sample("sidekiq-web-stats.json"))
    assert snapshot.shape == "sidekiq_web_stats"
    assert snapshot.figures() == {
        "processed": 182734,
        "failed": 1204,
        "busy": 3,
        "processes": 2,
        "enqueued": 40,
        "scheduled": 7,
        "retries": 61,
        "dead": 4,
        "default_latency": 1.53,
    }
    assert snapshot.server_time == "07:00:00 UTC"


def test_sidekiq_web_queues_shape_sums_enqueued() -> None:
    snapshot = parse_stats(sample("sidekiq-web-queues.json"))
    assert snapshot.shape == "sidekiq_web_queues"
    assert snapshot.queues == {"default": 0, "stalled": 40, "mailers": 2}
    assert snapshot.enqueued == 42
    assert snapshot.retries is None


def test_handwritten_without_enqueued_derives_it_from_queues() -> None:
    snapshot = parse_stats({"queues": {"a": 2, "b": 3}, "retries": 1})
    assert snapshot.enqueued == 5


def test_handwritten_accepts_sidekiq_stats_method_names() -> None:
    snapshot = parse_stats({"enqueued": 1, "retry_size": 70, "dead_size": 2})
    assert (snapshot.retries, snapshot.dead) == (70, 2)


def test_numbers_sent_as_strings_are_read() -> None:
    assert parse_stats({"enqueued": "40", "retries": "60"}).retries == 60


def test_negative_count_is_rejected_naming_the_figure() -> None:
    with pytest.raises(SourceError, match=r"retries is -3: a count cannot be negative") as caught:
        parse_stats({"enqueued": 1, "retries": -3})
    assert caught.value.kind == "bad_value"


def test_non_numeric_count_is_rejected_naming_the_figure() -> None:
    with pytest.raises(SourceError, match=r"sidekiq\.retries is 'many'"):
        parse_stats({"sidekiq": {"retries": "many"}})


def test_boolean_is_not_a_count() -> None:
    with pytest.raises(SourceError, match="retries is True"):
        parse_stats({"retries": True})


def test_unknown_object_shape_names_the_keys_found() -> None:
    with pytest.raises(SourceError, match=r"keys 'status', 'version'") as caught:
        parse_stats({"status": "ok", "version": "1.2"})
    assert caught.value.kind == "unknown_shape"


def test_json_array_is_an_unknown_shape() -> None:
    with pytest.raises(SourceError, match="a JSON array"):
        parse_stats([1, 2, 3])


def test_empty_object_is_sidekiq_web_queues_with_no_queues() -> None:
    snapshot = parse_stats({})
    assert snapshot.queues == {}
    assert snapshot.enqueued == 0
