"""The deadline covers the whole HTTP exchange, status line and headers included (issue 23, item 5).

Peers on 127.0.0.1 that trickle the status line, the headers, or an endless run of 100 Continue held
an invocation 5 to 7 times past its Lambda timeout: each socket read was bounded, the exchange was
not. Here each must end within the time left, plus one trickle interval of slack; and a 2xx status
line cut short by the deadline counts as delivered, so the sender's retry posts nothing twice.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from sidekiq_watch.errors import DeliveryError, SourceError
from sidekiq_watch.http import RetryPolicy, deliver, new_session
from sidekiq_watch.settings import StatsAuth
from sidekiq_watch.stats.sources import HttpStatsSource
from tests.reliability.test_misbehaving_peers import Counting
from tests.support.faulty import raw_server

pytestmark = pytest.mark.integration

TIME_LEFT = 1.5
SLACK = 1.0  # one trickle interval and thread scheduling; a defect shows as 8 s or more
STEP = 0.2
FOR_SECONDS = 8.0  # how long each peer keeps trickling: far past TIME_LEFT


def trickle(data: bytes, chunk: int = 1) -> Callable[[socket.socket], None]:
    def serve(connection: socket.socket) -> None:
        ends = time.monotonic() + FOR_SECONDS
        for start in range(0, len(data), chunk):
            if time.monotonic() > ends:
                return
            connection.sendall(data[start : start + chunk])
            time.sleep(STEP)

    return serve


def repeat(piece: bytes, then: bytes = b"") -> Callable[[socket.socket], None]:
    def serve(connection: socket.socket) -> None:
        connection.sendall(then)
        ends = time.monotonic() + FOR_SECONDS
        while time.monotonic() < ends:
            connection.sendall(piece)
            time.sleep(STEP / 2)

    return serve


STATUS_LINE_TRICKLED = trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
HEADER_BYTES_TRICKLED = repeat(b"a", then=b"HTTP/1.1 200 OK\r\nX-Slow: ")
CONTINUE_FLOOD = repeat(b"HTTP/1.1 100 Continue\r\n\r\n")
MANY_HEADER_LINES = trickle(
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Line-%d: v\r\n" % i for i in range(100)) + b"\r\n", chunk=12
)
PEERS = {
    "status line trickled": (STATUS_LINE_TRICKLED, False),
    "header bytes trickled after 200": (HEADER_BYTES_TRICKLED, True),
    "100 Continue flood": (CONTINUE_FLOOD, False),
    "100 header lines trickled after 200": (MANY_HEADER_LINES, True),
}


@pytest.mark.parametrize("peer_name", PEERS)
def test_a_notification_ends_within_the_time_left_and_a_2xx_status_counts_as_delivered(
    peer_name: str,
) -> None:
    serve, said_200 = PEERS[peer_name]
    peer = Counting(serve)
    with raw_server(peer) as url:
        started = time.monotonic()
        try:
            deliver(
                new_session(),
                "POST",
                url + "/hook",
                location="peer",
                timeout=30,
                policy=RetryPolicy(attempts=3, backoff_seconds=0.05),
                deadline=started + TIME_LEFT,
                data=b"{}",
            )
            delivered, permanent = True, False
        except DeliveryError as exc:
            delivered, permanent = False, exc.permanent
        elapsed = time.monotonic() - started
    assert elapsed < TIME_LEFT + SLACK, f"{peer_name}: {elapsed:.1f} s"
    assert delivered is said_200
    assert not permanent  # the sender retries what did not get through
    assert peer.count == 1  # never posted twice within the invocation


@pytest.mark.parametrize("peer_name", PEERS)
def test_a_stats_read_ends_within_its_timeout(peer_name: str) -> None:
    serve, _ = PEERS[peer_name]
    with raw_server(Counting(serve)) as url:
        source = HttpStatsSource(
            url + "/stats", StatsAuth(), timeout=TIME_LEFT, policy=RetryPolicy(attempts=1)
        )
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            source.read()
        elapsed = time.monotonic() - started
    assert caught.value.kind == "timeout"
    assert elapsed < TIME_LEFT + SLACK, f"{peer_name}: {elapsed:.1f} s"
