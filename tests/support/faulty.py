"""Misbehaving peers on 127.0.0.1, built from raw sockets: the faults HTTP libraries meet in the wild."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress


@contextmanager
def raw_server(serve: Callable[[socket.socket], None]) -> Iterator[str]:
    """Accepts connections and hands each to ``serve`` in a thread; yields the base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    stop = threading.Event()
    connections: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connections.append(connection)
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in connections:
            connection.close()
        listener.close()


def read_request(connection: socket.socket) -> bytes:
    """The whole request, its body included: a peer that closes with part of it unread sends a
    reset, which may destroy the answer it had just written (a TLS test once failed so)."""
    data = b""
    connection.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def reset(connection: socket.socket) -> None:
    """Close with RST rather than FIN: what a crashed peer or a load balancer does."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def reset_mid_body(connection: socket.socket) -> None:
    read_request(connection)
    connection.sendall(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"retr'
    )
    time.sleep(0.05)
    reset(connection)


def reset_at_once(connection: socket.socket) -> None:
    read_request(connection)
    reset(connection)


def endless_body(connection: socket.socket) -> None:
    """A 50 MB answer, sent as fast as the client reads it, without announcing its length."""
    read_request(connection)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[")
    chunk = b"1," * 32768
    try:
        for _ in range(50 * 1024 * 1024 // len(chunk)):
            connection.sendall(chunk)
    except OSError:
        pass  # the client hung up at its limit, as it should


def slow_answer(seconds: float) -> Callable[[socket.socket], None]:
    def serve(connection: socket.socket) -> None:
        read_request(connection)
        time.sleep(seconds)
        with suppress(OSError):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    return serve


@contextmanager
def unreachable_port() -> Iterator[str]:
    """A port whose accept queue is full, so a new connection is never even accepted (connect timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
