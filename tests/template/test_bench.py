"""`make bench` keeps working: every benchmark once, at small sizes (BENCH_QUICK=1). No figure is
asserted here (speed lives in bench/), only that each runs to the end and still reports what it must."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.build


@pytest.fixture(scope="module")
def bench_output() -> str:
    result = subprocess.run(
        [sys.executable, "bench/run_all.py"],
        cwd=ROOT,
        env={**os.environ, "BENCH_QUICK": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def rows(output: str, first_cell: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split("|")]
        for line in output.splitlines()
        if line.split("|")[0].strip() == first_cell
    ]


def test_cold_start_compares_each_handler_with_boto3_and_with_its_libraries(bench_output: str) -> None:
    for handler in ("poller", "batches"):
        [row] = rows(bench_output, handler)
        ratio_to_boto3, ratio_to_libraries = row[4], row[5]
        assert ratio_to_boto3.endswith("x"), row
        assert ratio_to_libraries.endswith("x"), row
    for floor in ("boto3", "poller-libraries", "batches-libraries", "batches-lean-libraries"):
        assert rows(bench_output, floor), floor


def test_cold_start_reports_that_only_the_batch_function_loads_pydantic(bench_output: str) -> None:
    [poller] = rows(bench_output, "poller")
    [batches] = rows(bench_output, "batches")
    assert poller[7] == "False"  # pydantic loaded
    assert batches[7] == "True"


def test_duplicate_deliveries_are_counted_and_not_resent(bench_output: str) -> None:
    table = (line.split("|") for line in bench_output.splitlines())
    [[_, _, _, delivered, duplicates]] = [row for row in table if len(row) == 5 and "/s" in row[0]]
    assert (int(delivered), int(duplicates)) == (18, 2)


def test_every_benchmark_reports(bench_output: str) -> None:
    headings = (
        "Cold start on Python",
        "Lambda CPU model on Python",
        "Many targets",
        "Fan-out",
        "Warm poll overhead",
        "Lambda artifacts",
        "Why jobs fail",
        "Monthly cost",
    )
    for heading in headings:
        assert heading in bench_output
    assert rows(bench_output, "PollerFunction")
    assert rows(bench_output, "BatchNotificationsFunction")


def test_the_lambda_model_measures_each_function_and_the_goals_at_a_memory_size(bench_output: str) -> None:
    functions = {row[2] for row in rows(bench_output, "256 MB")}
    assert {"bare boto3 client", "poller", "batches", "poller, 10 targets"} <= functions
    [goals] = [row for row in rows(bench_output, "256 MB") if len(row) == 5]
    assert goals[1].endswith("(goal 1.5x)"), goals
