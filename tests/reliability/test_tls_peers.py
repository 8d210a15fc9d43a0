"""HTTPS peers on 127.0.0.1 (a self-signed certificate the client is told to trust): every exchange
goes through the connections that carry the deadline, over TLS as over plain HTTP. The deadline's
connection classes once broke every HTTPS request (a method shared between two unrelated classes
called super() for the wrong one), and no test spoke TLS."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from sidekiq_watch.errors import DeliveryError
from sidekiq_watch.http import RetryPolicy, deliver, new_session, send
from tests.support.faulty import read_request
from tests.support.tls import server_context

pytestmark = pytest.mark.integration


@contextmanager
def tls_server(tmp_path: Path, serve: Callable[[socket.socket], None]) -> Iterator[tuple[str, Path]]:
    """A TLS listener handing each connection to ``serve``; yields its base URL and the certificate."""
    context, cert = server_context(tmp_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                continue
            try:
                connection = context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()
                continue
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{listener.getsockname()[1]}", cert
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def answer(body: bytes) -> Callable[[socket.socket], None]:
    def serve(connection: socket.socket) -> None:
        with suppress(OSError):
            read_request(connection)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            connection.close()

    return serve


def test_a_notification_over_https_is_delivered(tmp_path: Path) -> None:
    with tls_server(tmp_path, answer(b"ok")) as (url, cert):
        reply = deliver(
            new_session(), "POST", url + "/hook", location="peer", timeout=5,
            policy=RetryPolicy(attempts=1), verify=str(cert), data=b"{}",
        )  # fmt: skip
    assert reply.status == 200


def test_stats_over_https_are_read(tmp_path: Path) -> None:
    with tls_server(tmp_path, answer(b'{"retries": 3}')) as (url, cert):
        reply = send(new_session(), "GET", url + "/stats", location="peer", timeout=5, verify=str(cert))
    assert reply.body == b'{"retries": 3}'


def test_a_tls_peer_trickling_its_headers_is_cut_at_the_deadline(tmp_path: Path) -> None:
    def trickle(connection: socket.socket) -> None:
        with suppress(OSError):
            read_request(connection)
            connection.sendall(b"HTTP/1.1 503 Busy\r\nX-Slow: ")
            for _ in range(40):
                connection.sendall(b"a")
                time.sleep(0.2)

    with tls_server(tmp_path, trickle) as (url, cert):
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            deliver(
                new_session(), "POST", url + "/hook", location="peer", timeout=30,
                policy=RetryPolicy(attempts=1), deadline=started + 1.5, verify=str(cert), data=b"{}",
            )  # fmt: skip
        elapsed = time.monotonic() - started
    assert not caught.value.permanent
    assert elapsed < 2.5, f"{elapsed:.1f} s"
