"""Size of what `sam build` makes for each function (unzipped), and what dominates it. Goal: poller under 10 MB."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table

ROOT = Path(__file__).resolve().parent.parent


def size(path: Path) -> int:
    return (
        sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        if path.is_dir()
        else path.stat().st_size
    )


def main() -> dict[str, float]:
    results: dict[str, float] = {}
    rows = [("function", "unzipped", "largest parts")]
    with tempfile.TemporaryDirectory() as directory:
        for function in ("PollerFunction", "BatchNotificationsFunction"):
            target = Path(directory) / function
            subprocess.run(
                [
                    "make",
                    "--no-print-directory",
                    f"build-{function}",
                    f"ARTIFACTS_DIR={target}",
                    f"PYTHON={sys.executable}",
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            parts = sorted(
                ((size(p), p.name) for p in target.iterdir() if not p.name.endswith(".dist-info")),
                reverse=True,
            )
            total = size(target) / 1e6
            results[function] = total
            largest = ", ".join(f"{name} {bytes_ / 1e6:.1f}" for bytes_, name in parts[:4])
            rows.append((function, f"{total:.1f} MB", largest + " (MB)"))
    print("Lambda artifacts (python3.13/arm64, boto3 left to the runtime; goal: poller under 10 MB)")
    print(table(rows))
    return results


if __name__ == "__main__":
    main()
