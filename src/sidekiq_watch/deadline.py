"""Ending a network exchange at a wall-clock deadline, wherever it is blocked.

A socket timeout bounds each read, but a peer that sends one byte before every timeout keeps an
exchange alive for ever. Only cutting the socket from outside bounds the whole exchange: a timer
shuts it down at the deadline, which wakes the blocked read (also under TLS) with an error.
"""

from __future__ import annotations

import contextlib
import heapq
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


@dataclass(eq=False)
class Cut:
    """Whether the deadline passed and the exchange was cut (read by the thread that owns it)."""

    expired: bool = False
    done: bool = False  # the exchange ended first: nothing to cut


class _Watchman:
    """One daemon thread for every deadline in the process (a thread per exchange would cost a
    thread start for every request): a heap of deadlines, the earliest waited for."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Cut, Callable[[], None]]] = []
        self._wake = threading.Condition()
        self._order = 0
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, cut: Callable[[], None]) -> Cut:
        state = Cut()
        with self._wake:
            self._order += 1
            heapq.heappush(self._due, (deadline, self._order, state, cut))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="deadline-watch", daemon=True)
                self._thread.start()
            self._wake.notify()
        return state

    def done(self, state: Cut) -> None:
        with self._wake:
            state.done = True  # left in the heap: dropped when its time comes, without a cut

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    timeout = self._due[0][0] - time.monotonic() if self._due else None
                    self._wake.wait(timeout)
                _, _, state, cut = heapq.heappop(self._due)
                if state.done:
                    continue
                state.expired = True
            cut()  # outside the lock: shutting a socket down must not hold up other deadlines


_watchman = _Watchman()


@contextlib.contextmanager
def cut_at(deadline: float, cut: Callable[[], None]) -> Iterator[Cut]:
    """Call ``cut`` at ``deadline`` (a time.monotonic() value) unless the block has ended by then."""
    state = _watchman.watch(deadline, cut)
    try:
        yield state
    finally:
        _watchman.done(state)
