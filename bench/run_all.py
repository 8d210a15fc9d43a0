"""Every benchmark, each in a fresh process so one's memory does not colour another's: `make bench`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = (
    "cold_start.py",
    "lambda_model.py",
    "many_targets.py",
    "fanout.py",
    "warm_overhead.py",
    "artifact.py",
    "why.py",
    "cost.py",
)


def main() -> None:
    started = time.perf_counter()
    for bench in BENCHES:
        subprocess.run([sys.executable, str(HERE / bench)], check=True)
        print()
    print(f"all benchmarks: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
