"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every request and
answers with the status the test sets (the hub must be allowed private targets to reach it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    status: int = 200
    reply: bytes = b"thanks from the receiver"
    received: list[Received] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver = self.server.receiver
        headers = {k.lower(): v for k, v in self.headers.items()}
        receiver.received.append(Received(self.path, headers, body))
        self.send_response(receiver.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(receiver.reply)))
        self.end_headers()
        self.wfile.write(receiver.reply)

    def log_message(self, format: str, *args: object) -> None:
        return  # the test reads ``received``; no noise on stderr


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


@contextmanager
def webhook_receiver(path: str = "/hooks/orchestratia") -> Iterator[Receiver]:
    """A receiver at ``http://127.0.0.1:<free port><path>`` for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
