"""Real HTTP servers on 127.0.0.1 for tests where sockets, timeouts and resets matter."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})


Responder = Callable[[Received], Reply]


@dataclass
class LocalServer:
    url: str
    received: list[Received]
    responder: list[Responder]

    def respond_with(self, responder: Responder) -> None:
        self.responder[0] = responder


def json_reply(payload: object, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


@contextmanager
def local_server(responder: Responder, *, record: bool = True) -> Iterator[LocalServer]:
    """A threaded HTTP server on a free loopback port; every request is recorded (unless told not to)."""
    received: list[Received] = []
    current = [responder]

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(self.command, self.path, dict(self.headers), self.rfile.read(length))
            if record:
                received.append(request)
            reply = current[0](request)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # the default listen backlog of 5 drops bursts of connections

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LocalServer(f"http://127.0.0.1:{server.server_address[1]}", received, current)
    finally:
        server.shutdown()
        server.server_close()


def silent_server() -> AbstractContextManager[str]:
    """Accepts connections and never answers: the worst kind of peer. Yields its base URL."""
    from tests.support.faulty import raw_server

    return raw_server(lambda connection: None)  # the connection stays open, unanswered, until the end
