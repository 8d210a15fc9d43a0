"""A Docker API proxy between SAM and dockerd that changes one thing: how Lambda containers are networked.

SAM publishes the emulator's port 8080 on 127.0.0.1:<port> through Docker's bridge, which this machine
cannot give (dockerd runs without iptables and without a bridge). The proxy rewrites only the create
call of containers labelled ``sam.cli.container.type=lambda``: the container joins the host's network,
drops its port bindings, and the emulator listens on 127.0.0.1:<the port SAM chose> itself, its runtime
API on another free port (two containers at once must not both take 9001). Every other call, and
every byte after the request line and headers, passes through unchanged. SAM itself is not modified.

Each request is sent upstream with ``Connection: close`` (unless it upgrades to a raw stream), so every
request arrives on a connection of its own and none can slip past on a kept-alive one.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.real_sidekiq import free_port

CREATE = re.compile(rb"^POST (/v[0-9.]+)?/containers/create(\?\S*)? HTTP/1\.[01]$")
LAMBDA_LABEL = ("sam.cli.container.type", "lambda")
HEAD_LIMIT = 64 * 1024


def host_networked(create: dict[str, Any]) -> dict[str, Any]:
    """A Lambda container's create body, on the host's loopback instead of a published port."""
    if create.get("Labels", {}).get(LAMBDA_LABEL[0]) != LAMBDA_LABEL[1]:
        return create
    host_config = create.setdefault("HostConfig", {})
    bindings = host_config.pop("PortBindings", None) or {}
    published = [binding["HostPort"] for binding in bindings.get("8080/tcp", []) if binding.get("HostPort")]
    if not published:
        raise ValueError(f"SAM's Lambda container publishes no port for 8080: {bindings!r}")
    host_config["NetworkMode"] = "host"
    create.pop("ExposedPorts", None)
    create["Cmd"] = [
        *(create.get("Cmd") or []),
        "--runtime-interface-emulator-address",
        f"127.0.0.1:{published[0]}",
        "--runtime-api-address",
        f"127.0.0.1:{free_port()}",
    ]
    return create


class DockerApiProxy:
    """Listens on ``listen`` (a Unix socket) and forwards to dockerd's socket at ``upstream``."""

    def __init__(
        self,
        upstream: Path,
        listen: Path,
        rewrite: Callable[[dict[str, Any]], dict[str, Any]] = host_networked,
    ) -> None:
        self.upstream = upstream
        self.listen = listen
        self.rewrite = rewrite
        self.creates: list[dict[str, Any]] = []  # what was sent upstream, for tests to read
        self.errors: list[str] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def __enter__(self) -> DockerApiProxy:
        self.listen.unlink(missing_ok=True)
        self._server.bind(str(self.listen))
        self._server.listen(64)
        threading.Thread(target=self._accept, name="docker-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()
        self.listen.unlink(missing_ok=True)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            head, rest = _read_head(client)
            if head is None:
                return
            upstream.connect(str(self.upstream))
            upstream.sendall(self._forwarded(head, rest, client))
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
            _pipe(upstream, client)
        except Exception as error:
            self.errors.append(f"{type(error).__name__}: {error}")
        finally:
            client.close()
            upstream.close()

    def _forwarded(self, head: bytes, rest: bytes, client: socket.socket) -> bytes:
        request_line, *header_lines = head.split(b"\r\n")
        headers = [line for line in header_lines if line]
        upgrades = any(line.lower().startswith(b"upgrade:") for line in headers)
        if not upgrades:
            headers = [line for line in headers if not line.lower().startswith(b"connection:")]
            headers.append(b"Connection: close")
        if not CREATE.match(request_line):
            return b"\r\n".join([request_line, *headers]) + b"\r\n\r\n" + rest
        length = next(
            (int(line.split(b":", 1)[1]) for line in headers if line.lower().startswith(b"content-length:")),
            0,
        )
        while len(rest) < length:
            chunk = client.recv(65536)
            if not chunk:
                break
            rest += chunk
        body = json.dumps(self.rewrite(json.loads(rest[:length] or b"{}"))).encode()
        self.creates.append(json.loads(body))
        headers = [line for line in headers if not line.lower().startswith(b"content-length:")]
        headers.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join([request_line, *headers]) + b"\r\n\r\n" + body + rest[length:]


def _read_head(client: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk or len(data) > HEAD_LIMIT:
            return None, b""
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
