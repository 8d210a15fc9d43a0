"""Lambda's CPU share, modelled with a cgroup: one vCPU at 1,769 MB, proportionally less below.

Only the measured function's process is put in the cgroup; its peers (moto, stats servers,
webhooks) run outside it, as AWS's services and the watched apps do. cgroup v1's `cpu` controller
(`cpu.cfs_quota_us`) where the machine has it, else v2's `cpu.max`. Without either (not root, no
controller), `open_share` says why and the caller measures unthrottled.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

ONE_VCPU_MB = 1769
PERIOD_US = 100_000
V1 = Path("/sys/fs/cgroup/cpu")
V2 = Path("/sys/fs/cgroup")


def share_of(memory_mb: int) -> float:
    """The fraction of one core Lambda gives a function of this memory size (capped at one core)."""
    return min(1.0, memory_mb / ONE_VCPU_MB)


class CpuShare:
    """One cgroup whose quota is changed per measurement; processes are admitted by pid."""

    def __init__(self, directory: Path, version: int) -> None:
        self.directory = directory
        self.version = version

    def limit(self, fraction: float) -> None:
        quota = max(1000, round(PERIOD_US * fraction))
        if self.version == 1:
            (self.directory / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.directory / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (self.directory / "cpu.max").write_text(f"{quota} {PERIOD_US}")

    def admit(self, pid: int) -> None:
        """The whole process, every thread it has and will have."""
        (self.directory / "cgroup.procs").write_text(str(pid))

    def remove(self) -> None:
        parent = self.directory.parent / "cgroup.procs"
        for pid in (self.directory / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # exited meanwhile
                parent.write_text(pid)
        self.directory.rmdir()


def _make(name: str) -> CpuShare:
    if (V1 / "cpu.cfs_quota_us").exists():
        directory = V1 / name
        directory.mkdir()
        return CpuShare(directory, 1)
    if "cpu" in (V2 / "cgroup.controllers").read_text().split():
        directory = V2 / name
        directory.mkdir()
        return CpuShare(directory, 2)
    raise OSError("no cpu controller in /sys/fs/cgroup")


@contextlib.contextmanager
def open_share() -> Iterator[tuple[CpuShare | None, str]]:
    """A cgroup to throttle measured processes in, or None and the reason there is none."""
    if os.environ.get("BENCH_NO_CGROUP") == "1":
        yield None, "BENCH_NO_CGROUP=1"
        return
    try:
        share = _make(f"sidekiq-watch-bench-{os.getpid()}")
    except OSError as exc:
        yield None, f"no cgroup could be made ({exc.strerror or exc}); measured on a whole core"
        return
    try:
        yield share, f"cgroup v{share.version} at {share.directory}"
    finally:
        share.remove()
