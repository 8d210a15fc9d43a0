"""The batch Lambda behind a small WSGI adapter on 127.0.0.1: a real HTTP front for load and soak tests."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def function_url_event(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    headers = {
        key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    query = environ.get("QUERY_STRING", "")
    path = environ.get("PATH_INFO", "/")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": dict(part.split("=", 1) for part in query.split("&") if "=" in part) or None,
        "requestContext": {
            "http": {
                "method": environ["REQUEST_METHOD"],
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": "wsgi",
            "stage": "$default",
            "domainName": "localhost",
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


@contextmanager
def lambda_over_http(handler: Callable[[dict[str, Any], Any], dict[str, Any]], context: Any) -> Iterator[str]:
    """One execution environment: like Lambda, it runs one invocation at a time (Powertools' resolver,
    logger and metrics keep per-invocation state in module globals); HTTP connections are concurrent."""
    environment = threading.Lock()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        event = function_url_event(environ)
        with environment:
            result = handler(event, context)
        status = int(result["statusCode"])
        reason = {200: "OK", 401: "Unauthorized", 502: "Bad Gateway"}.get(status, "Status")
        start_response(f"{status} {reason}", list((result.get("headers") or {}).items()))
        return [str(result.get("body", "")).encode()]

    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
