"""A real redis-server (Debian's) on a free loopback port, which tests may stop and start again."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.real_sidekiq import free_port, redis_server_command, require_tools, wait_until


class RedisServer:
    def __init__(self, workdir: Path, password: str | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = redis_server_command(self.port)
        if self.password:
            args += ["--requirepass", self.password]
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(
            lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close() is None, "Redis"
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self) -> object:
        import redis

        return redis.Redis(port=self.port, password=self.password, socket_timeout=5)


@contextmanager
def redis_server(workdir: Path, password: str | None = None) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        require_tools()
        pytest.skip("needs redis-server")
    server = RedisServer(workdir, password)
    server.start()
    try:
        yield server
    finally:
        server.stop()
