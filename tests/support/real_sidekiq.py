"""A real Sidekiq for integration tests: Debian's redis-server, a Rack app with Sidekiq::Web, a worker.

Three versions, the ones people run: 6.4 from the host (Debian bookworm's ruby-sidekiq), 7.3 and
8.1 from minimal Debian trixie and sid chroots built with mmdebstrap on first use and cached outside
the clone (``~/.cache/sidekiq-watch/chroots/``, keyed by what they are built from). Inside a chroot
the app runs in a private mount namespace (proc, /dev and the app directory bound in; nothing stays
mounted) on the host's network, so 127.0.0.1 is shared with the host's redis-server.
Missing tools, or a chroot that cannot be built, skip the tests loudly, unless
SIDEKIQ_WATCH_REQUIRE_INTEGRATION=1 (set by .ci/run), where they fail: CI must never pass by
skipping the truth about formats.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

APP_DIR = Path(__file__).resolve().parent.parent / "integration" / "sidekiq_app"
TOOLS = ("redis-server", "ruby", "sidekiq")


def unavailable(reason: str) -> None:
    """Skip loudly here; fail where SIDEKIQ_WATCH_REQUIRE_INTEGRATION=1 (CI)."""
    if os.environ.get("SIDEKIQ_WATCH_REQUIRE_INTEGRATION") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


CHROOT_PACKAGES = ("ruby", "ruby-sidekiq", "ruby-json", "ruby-webrick", "ruby-rackup", "ruby-rack-session")
MIRROR = "http://deb.debian.org/debian"


class SidekiqVersion:
    """Where one Sidekiq version runs: the host, or a Debian chroot."""

    def __init__(self, name: str, suite: str | None) -> None:
        self.name = name
        self.suite = suite  # None: the host's own ruby-sidekiq

    def __repr__(self) -> str:
        return f"sidekiq-{self.name}"

    def cache_key(self) -> str:
        inputs = json.dumps([self.suite, CHROOT_PACKAGES, MIRROR, "minbase"])
        return f"{self.suite}-{hashlib.sha256(inputs.encode()).hexdigest()[:12]}"

    def root(self) -> Path:
        """The chroot, built once and cached outside the clone."""
        assert self.suite is not None
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sidekiq-watch" / "chroots"
        root = base / self.cache_key()
        if (root / "usr" / "bin" / "sidekiq").exists():
            return root
        if shutil.which("mmdebstrap") is None or os.geteuid() != 0:
            unavailable(f"Sidekiq {self.name} needs mmdebstrap and root to build its {self.suite} chroot")
        base.mkdir(parents=True, exist_ok=True)
        building = base / f"{root.name}.building-{os.getpid()}"
        command = [
            "mmdebstrap",
            "--variant=minbase",
            '--aptopt=Acquire::Check-Valid-Until "false"',  # sid's Release may be past Valid-Until
            f"--include={','.join(CHROOT_PACKAGES)}",
            self.suite,
            str(building),
            MIRROR,
        ]
        built = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if built.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            unavailable(
                f"Sidekiq {self.name}: building the {self.suite} chroot failed: {built.stderr[-500:]}"
            )
        building.rename(root)
        return root

    def command(self, args: list[str]) -> list[str]:
        """``args`` run in APP_DIR, on the host or inside the chroot (same network, same user)."""
        if self.suite is None:
            return args
        root = self.root()
        script = (
            'set -e; root="$1"; app="$2"; shift 2; '
            'mount -t proc proc "$root/proc"; mount --bind /dev "$root/dev"; '
            'mkdir -p "$root/app"; mount --bind "$app" "$root/app"; '
            'exec chroot "$root" /bin/sh -c \'cd /app && exec "$@"\' sh "$@"'
        )
        return [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(root),
            str(APP_DIR),
            *args,
        ]

    def require(self) -> None:
        if self.suite is None:
            require_tools()
        elif shutil.which("redis-server") is None or shutil.which("unshare") is None:
            unavailable("needs redis-server and unshare (apt-get install redis-server util-linux)")
        else:
            self.root()


VERSIONS = (SidekiqVersion("6.4", None), SidekiqVersion("7.3", "trixie"), SidekiqVersion("8.1", "sid"))


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    unavailable(f"needs {', '.join(missing)} (apt-get install redis-server ruby-sidekiq ruby-webrick)")


def redis_server_command(port: int) -> list[str]:
    """A throwaway redis-server on loopback: nothing saved, nothing appended."""
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


class RealSidekiq:
    """Handles to the running pieces; ``url`` is the Rack app's base URL."""

    def __init__(self, url: str, redis_port: int, version: SidekiqVersion) -> None:
        self.url = url
        self.redis_port = redis_port
        self.version = version
        self.worker: subprocess.Popen[bytes] | None = None

    def kill_workers(self) -> None:
        """kill -9 the Sidekiq process, then let its heartbeat expire (its 60 s TTL, cut to 1 s)."""
        import redis

        assert self.worker is not None
        self.worker.kill()
        self.worker.wait()
        client = redis.Redis(port=self.redis_port)
        for process in client.smembers("processes"):
            client.expire(process, 1)
        wait_until(
            lambda: not any(client.exists(p) for p in client.smembers("processes")), "heartbeats to expire"
        )

    def truth(self) -> dict[str, Any]:
        """What this Sidekiq itself reports (Sidekiq::Stats, Queue#latency, ProcessSet)."""
        result: dict[str, Any] = self.control("/truth")
        return result

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def control(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/control{path}", timeout=10) as response:  # noqa: S310
            assert response.status == 200
            body = response.read()
        return json.loads(body) if body.startswith(b"{") else None

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/sidekiq/stats")["sidekiq"]
        return result

    def fail_jobs(self, count: int) -> None:
        """Enqueue ``count`` failing jobs and wait until the worker has moved them all to retries."""
        target = self.stats()["retries"] + count
        self.control(f"/enqueue?count={count}")
        wait_until(lambda: self.stats()["retries"] == target, f"retries to reach {target}")

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def clear_retries(self) -> None:
        self.control("/clear_retries")
        wait_until(lambda: self.stats()["retries"] == 0, "retries to be cleared")


def _start(
    stack: ExitStack, args: list[str], env: dict[str, str], log: Path, version: SidekiqVersion | None = None
) -> subprocess.Popen[bytes]:
    args = version.command(args) if version is not None else args
    handle = stack.enter_context(log.open("wb"))
    process = subprocess.Popen(args, cwd=APP_DIR, env=env, stdout=handle, stderr=subprocess.STDOUT)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(stop)
    return process


def _start_app(
    stack: ExitStack, env: dict[str, str], workdir: Path, version: SidekiqVersion, redis_port: int, port: int
) -> RealSidekiq:
    """The Rack app, on a fresh port again if the first one was taken between choosing and binding
    it (the app then exits at once); what it said is in the failure if it never answers."""
    for attempt in range(3):
        env = {**env, "PORT": str(port)}
        app = RealSidekiq(f"http://127.0.0.1:{port}", redis_port, version)
        log = workdir / f"app-{attempt}.log"
        process = _start(stack, ["ruby", "app.rb"], env, log, version)

        def answering(process: subprocess.Popen[bytes] = process, app: RealSidekiq = app) -> bool:
            if process.poll() is not None:
                return True  # exited: told apart below
            return "sidekiq" in app.get("/sidekiq/stats")

        try:
            wait_until(answering, "the Rack app with Sidekiq::Web", timeout=90)
        except AssertionError as exc:
            said = log.read_text(errors="replace")[-2000:]
            raise AssertionError(f"{exc}; the app said: {said}") from None
        if process.poll() is None:
            return app
        port = free_port()
    said = log.read_text(errors="replace")[-2000:]
    raise AssertionError(f"the Rack app with Sidekiq::Web kept exiting; it said: {said}")


@contextmanager
def real_sidekiq(workdir: Path, version: SidekiqVersion = VERSIONS[0]) -> Iterator[RealSidekiq]:
    version.require()
    redis_port, app_port = free_port(), free_port()
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "PORT": str(app_port)}
    with ExitStack() as stack:
        _start(
            stack,
            redis_server_command(redis_port),
            env,
            workdir / "redis.log",
        )
        wait_until(
            lambda: socket.create_connection(("127.0.0.1", redis_port), timeout=1).close() is None, "Redis"
        )
        app = _start_app(stack, env, workdir, version, redis_port, app_port)
        app.worker = _start(
            stack, ["sidekiq", "-r", "./jobs.rb", "-c", "5", "-t", "1"], env, workdir / "sidekiq.log", version
        )
        wait_until(lambda: app.stats()["processes"] == 1, "a Sidekiq process to report in", timeout=90)
        yield app
