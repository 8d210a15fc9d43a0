"""The Docker API proxy the container tier puts between SAM and dockerd, checked without either.

Where the tier is skipped (no root, no engine) these still say whether the proxy rewrites what it must
and passes everything else through unchanged.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.docker_proxy import DockerApiProxy, host_networked

SAM_CREATE: dict[str, Any] = {
    "Image": "sidekiq-watch-lambda-x:rapid-arm64",
    "Cmd": ["sidekiq_watch.handlers.poller.handler"],
    "ExposedPorts": {"8080/tcp": {}},
    "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5927"}]}, "Memory": 1},
    "Labels": {"sam.cli.container.type": "lambda"},
}


def test_a_lambda_container_joins_the_host_loopback_on_the_port_sam_chose() -> None:
    created = host_networked(json.loads(json.dumps(SAM_CREATE)))
    assert created["HostConfig"] == {"NetworkMode": "host", "Memory": 1}
    assert "ExposedPorts" not in created
    handler, *emulator = created["Cmd"]
    assert handler == "sidekiq_watch.handlers.poller.handler"
    assert emulator[:2] == ["--runtime-interface-emulator-address", "127.0.0.1:5927"]
    assert emulator[2] == "--runtime-api-address"
    assert emulator[3].startswith("127.0.0.1:")
    assert emulator[3] != "127.0.0.1:9001"


def test_any_other_container_is_left_alone() -> None:
    other = {**SAM_CREATE, "Labels": {"sam.cli.container.type": "build"}}
    assert host_networked(json.loads(json.dumps(other))) == other


def test_a_lambda_container_without_a_published_port_is_an_error_not_a_hang() -> None:
    bare = {**SAM_CREATE, "HostConfig": {}}
    with pytest.raises(ValueError, match="publishes no port for 8080"):
        host_networked(json.loads(json.dumps(bare)))


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A stand-in dockerd: records each request's bytes, answers 201, closes."""
    path = tmp_path / "dockerd.sock"
    received: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += connection.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(body) < length:
                    body += connection.recv(65536)
                received.append(head + b"\r\n\r\n" + body)
                connection.sendall(
                    b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                )

    threading.Thread(target=serve, daemon=True).start()
    yield path, received
    server.close()


def send(proxy: Path, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(proxy))
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer


def test_the_create_call_is_rewritten_with_its_length_and_every_request_closes(
    upstream: tuple[Path, list[bytes]], tmp_path: Path
) -> None:
    dockerd, received = upstream
    body = json.dumps(SAM_CREATE).encode()
    create = (
        b"POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nConnection: keep-alive\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    ping = b"GET /v1.41/_ping HTTP/1.1\r\nHost: docker\r\nConnection: keep-alive\r\n\r\n"
    with DockerApiProxy(dockerd, tmp_path / "proxy.sock") as proxy:
        assert send(proxy.listen, create).startswith(b"HTTP/1.1 201")
        assert send(proxy.listen, ping).startswith(b"HTTP/1.1 201")
    sent_create, sent_ping = received
    head, sent_body = sent_create.split(b"\r\n\r\n", 1)
    assert json.loads(sent_body)["HostConfig"]["NetworkMode"] == "host"
    assert f"Content-Length: {len(sent_body)}".encode() in head.split(b"\r\n")
    assert b"Connection: close" in head.split(b"\r\n")
    assert b"keep-alive" not in head
    assert sent_ping == ping.replace(b"Connection: keep-alive\r\n", b"").replace(
        b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"
    )
    assert proxy.creates == [json.loads(sent_body)]
    assert proxy.errors == []
