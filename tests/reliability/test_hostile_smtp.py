"""SMTP peers that trickle or never stop answering (issue 23, item 6): every command is bounded by
the time left, every reply by its size and line count. Before, a trickled banner or DATA reply ran
past 400 s and an endless multi-line reply took 2 GB in 16 s (the function has 256 MB)."""

from __future__ import annotations

import socket
import ssl
import time
import tracemalloc
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from sidekiq_watch.batches.render import batch_message
from sidekiq_watch.channels import Resources, build_channel
from sidekiq_watch.errors import DeliveryError
from sidekiq_watch.http import RetryPolicy
from tests.support.faulty import raw_server
from tests.unit.batches.helpers import sample_event

pytestmark = pytest.mark.integration

TIME_LEFT = 1.5
SLACK = 1.0
FOR_SECONDS = 8.0


def conversation(
    banner: Callable[[socket.socket], None], data_reply: Callable[[socket.socket], None] | None = None
) -> Callable[[socket.socket], None]:
    """A server speaking just enough SMTP to reach the point where it misbehaves."""

    def serve(connection: socket.socket) -> None:
        with suppress(OSError):
            banner(connection)
            reader = connection.makefile("rb")
            while line := reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    connection.sendall(b"250 localhost\r\n")
                elif verb == b"DATA":
                    connection.sendall(b"354 go ahead\r\n")
                    while reader.readline() not in (b".\r\n", b""):
                        pass
                    if data_reply is None:
                        connection.sendall(b"250 ok\r\n")
                    else:
                        data_reply(connection)
                        return
                elif verb == b"QUIT":
                    connection.sendall(b"221 bye\r\n")
                    return
                else:
                    connection.sendall(b"250 ok\r\n")

    return serve


def trickle(text: bytes) -> Callable[[socket.socket], None]:
    def send(connection: socket.socket) -> None:
        ends = time.monotonic() + FOR_SECONDS
        for byte in text:
            if time.monotonic() > ends:
                raise OSError("peer gave up")
            connection.sendall(bytes([byte]))
            time.sleep(0.2)

    return send


def endless_multiline(connection: socket.socket) -> None:
    line = b"220-" + b"A" * 1000 + b"\r\n"
    ends = time.monotonic() + FOR_SECONDS
    while time.monotonic() < ends:
        connection.sendall(line * 64)
    raise OSError("peer gave up")


def ok_banner(connection: socket.socket) -> None:
    connection.sendall(b"220 localhost ready\r\n")


def smtp_channel(address: str, port: int, tls: str) -> Any:
    return build_channel(
        "mail",
        {"type": "email", "via": "smtp", "address": address, "port": port, "tls": tls,
         "from": "a@example.com", "to": "b@example.com"},
        "channels.mail",
    )  # fmt: skip


PEERS = {
    "banner trickled": conversation(trickle(b"220 localhost ready\r\n")),
    "endless multi-line banner": conversation(endless_multiline),
    "DATA reply trickled": conversation(ok_banner, trickle(b"250 queued as 1\r\n")),
    "endless multi-line DATA reply": conversation(ok_banner, endless_multiline),
}


@pytest.mark.parametrize("peer_name", PEERS)
def test_an_smtp_exchange_ends_within_the_time_left_with_bounded_memory(peer_name: str) -> None:
    with raw_server(PEERS[peer_name]) as url:
        port = int(url.rsplit(":", 1)[1])
        channel = build_channel(
            "mail",
            {
                "type": "email",
                "via": "smtp",
                "address": "127.0.0.1",
                "port": port,
                "tls": "none",
                "from": "a@example.com",
                "to": "b@example.com",
            },
            "channels.mail",
        )
        started = time.monotonic()
        resources = Resources(timeout=30, policy=RetryPolicy(attempts=3, backoff_seconds=0.05)).for_request(
            deadline=started + TIME_LEFT
        )
        tracemalloc.start()
        try:
            with pytest.raises(DeliveryError) as caught:
                channel.deliver(batch_message(sample_event()), resources)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        elapsed = time.monotonic() - started
    assert elapsed < TIME_LEFT + SLACK, f"{peer_name}: {elapsed:.1f} s"
    assert peak < 20 * 1024 * 1024, f"{peer_name}: {peak / 1e6:.0f} MB"
    assert not caught.value.permanent


def test_smtp_over_implicit_tls_delivers_and_is_bounded_alike(tmp_path: Path) -> None:
    """`tls: tls` (port 465): the bounded client over an SSL socket, as over a plain one."""
    from tests.reliability.test_tls_peers import tls_server

    with tls_server(tmp_path, conversation(ok_banner)) as (url, cert):
        port = int(url.rsplit(":", 1)[1])
        channel = smtp_channel("localhost", port, "tls")
        resources = Resources(timeout=5, policy=RetryPolicy(attempts=1))
        trusting = ssl.create_default_context(cafile=str(cert))
        with mock.patch("ssl.create_default_context", return_value=trusting):
            assert channel.deliver(batch_message(sample_event()), resources) == "sent to 1 recipient(s)"


def test_smtp_with_starttls_delivers_verifying_the_servers_name(tmp_path: Path) -> None:
    """`tls: starttls` (port 587): the upgrade verifies the certificate against the configured host."""
    from tests.support.tls import server_context

    context, cert = server_context(tmp_path)
    delivered: list[bytes] = []

    def serve(connection: socket.socket) -> None:
        with suppress(OSError):
            connection.sendall(b"220 localhost ready\r\n")
            reader = connection.makefile("rb")
            while line := reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    connection.sendall(b"250-localhost\r\n250 STARTTLS\r\n")
                elif line.upper().startswith(b"STARTTLS"):
                    connection.sendall(b"220 go ahead\r\n")
                    connection = context.wrap_socket(connection, server_side=True)
                    reader = connection.makefile("rb")
                elif verb == b"DATA":
                    connection.sendall(b"354 go ahead\r\n")
                    while (data := reader.readline()) not in (b".\r\n", b""):
                        delivered.append(data)
                    connection.sendall(b"250 ok\r\n")
                elif verb == b"QUIT":
                    connection.sendall(b"221 bye\r\n")
                    return
                else:
                    connection.sendall(b"250 ok\r\n")

    with raw_server(serve) as url:
        port = int(url.rsplit(":", 1)[1])
        channel = smtp_channel("localhost", port, "starttls")
        trusting = ssl.create_default_context(cafile=str(cert))
        with mock.patch("ssl.create_default_context", return_value=trusting):
            result = channel.deliver(
                batch_message(sample_event()), Resources(timeout=5, policy=RetryPolicy(attempts=1))
            )
    assert result == "sent to 1 recipient(s)"
    assert any(b"Subject:" in line for line in delivered)
