"""Ending a network exchange at a wall-clock deadline, wherever it is blocked.

A socket timeout bounds each read, but a peer that sends one byte before every timeout keeps an
exchange alive for ever. Only cutting the socket from outside bounds the whole exchange: a timer
shuts it down at the deadline, which wakes the blocked read (also under TLS) with an error.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


def shut_down(sock: socket.socket | None) -> None:
    """Shut a socket down from another thread: socket.socket's own shutdown, even for TLS sockets,
    whose own would tear the TLS state out from under the reading thread."""
    if sock is None:
        return
    with contextlib.suppress(OSError, ValueError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


@dataclass
class Cut:
    """Whether the deadline passed and the exchange was cut (read by the thread that owns it)."""

    expired: bool = False


@contextlib.contextmanager
def cut_at(deadline: float, cut: Callable[[], None]) -> Iterator[Cut]:
    """Call ``cut`` at ``deadline`` (a time.monotonic() value) unless the block has ended by then."""
    state = Cut()

    def expire() -> None:
        state.expired = True
        cut()

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
    timer.daemon = True
    timer.start()
    try:
        yield state
    finally:
        timer.cancel()
