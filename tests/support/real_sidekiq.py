"""A real Sidekiq for integration tests: Debian's redis-server, a Rack app with Sidekiq::Web, a worker.

Needs ``redis-server``, ``ruby`` and ``sidekiq`` (Debian: redis-server, ruby-sidekiq,
ruby-webrick). Missing tools skip the tests, unless SIDEKIQ_WATCH_REQUIRE_INTEGRATION=1 (set by
.ci/run), where they fail: CI must never pass by skipping the truth about formats.
"""

from __future__ import annotations

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


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"needs {', '.join(missing)} (apt-get install redis-server ruby-sidekiq ruby-webrick)"
    if os.environ.get("SIDEKIQ_WATCH_REQUIRE_INTEGRATION") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


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

    def __init__(self, url: str, redis_port: int) -> None:
        self.url = url
        self.redis_port = redis_port

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


def _start(stack: ExitStack, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
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


@contextmanager
def real_sidekiq(workdir: Path) -> Iterator[RealSidekiq]:
    require_tools()
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
        app = RealSidekiq(f"http://127.0.0.1:{app_port}", redis_port)
        _start(stack, ["ruby", "app.rb"], env, workdir / "app.log")
        wait_until(
            lambda: "sidekiq" in app.get("/sidekiq/stats"), "the Rack app with Sidekiq::Web", timeout=30
        )
        _start(stack, ["sidekiq", "-r", "./jobs.rb", "-c", "5", "-t", "1"], env, workdir / "sidekiq.log")
        wait_until(lambda: app.stats()["processes"] == 1, "a Sidekiq process to report in", timeout=30)
        yield app
