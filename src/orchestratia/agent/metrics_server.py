"""The daemon's local ``/metrics`` and ``/healthz``, for a node exporter or a health check.

Listens on a loopback address (``127.0.0.1:9465``, ``[::1]:9465``, ``localhost:9465``) or a Unix
socket (``unix:/run/orchestratia/agent.sock``, made 0600): never on a routable address, since
nothing here authenticates. A deliberately small HTTP/1.1 responder (one GET per connection),
so the daemon stays light: no web framework for two read-only routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 5.0
MAX_REQUEST_BYTES = 8192
UNIX_PREFIX = "unix:"


class ListenError(ValueError):
    """A ``metrics_listen`` value the daemon will not serve on; the message says why."""


@dataclass(frozen=True)
class ListenAddress:
    host: str | None = None
    port: int | None = None
    path: Path | None = None  # a Unix socket

    def describe(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        return f"{self.host}:{self.port}"


def parse_listen(value: str) -> ListenAddress:
    """``host:port`` on loopback, or ``unix:/absolute/path``; ListenError otherwise."""
    if value.startswith(UNIX_PREFIX):
        path = Path(value[len(UNIX_PREFIX) :])
        if not path.is_absolute():
            raise ListenError(f"metrics_listen {value!r}: the Unix socket path must be absolute")
        return ListenAddress(path=path)
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ListenError(
            f"metrics_listen {value!r}: expected HOST:PORT (e.g. 127.0.0.1:9465) or unix:/PATH"
        )
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ListenError(
                f"metrics_listen {value!r}: only a loopback address (127.0.0.1, ::1, localhost) "
                "or a Unix socket is allowed; the daemon's metrics are not authenticated"
            )
    return ListenAddress(host=host, port=int(port_text))


def _unix_socket(path: Path) -> socket.socket:
    """A bound Unix socket, 0600 before it listens (so nobody can connect in between)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()  # left by a daemon that died; a live one would still hold its lock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
    except OSError:
        sock.close()
        raise
    return sock


class MetricsServer:
    """Serves ``registry`` at ``/metrics`` and the daemon's health at ``/healthz``."""

    def __init__(
        self,
        address: ListenAddress,
        registry: CollectorRegistry,
        health: Callable[[], dict[str, str]],
    ) -> None:
        self.address = address
        self.registry = registry
        self.health = health
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; a busy port or an unusable path is a ListenError naming the address."""
        try:
            if self.address.path is not None:
                sock = _unix_socket(self.address.path)
                self._server = await asyncio.start_unix_server(self._serve, sock=sock)
            else:
                self._server = await asyncio.start_server(
                    self._serve, self.address.host, self.address.port
                )
        except OSError as exc:
            where = self.address.describe()
            raise ListenError(f"cannot serve metrics on {where}: {exc.strerror or exc}") from exc
        log.info("metrics on %s", self.address.describe())

    @property
    def port(self) -> int | None:
        """The TCP port actually bound (port 0 picks a free one)."""
        if self._server is None or self.address.path is not None:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.address.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.address.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, content_type, body = self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, content_type, body = "400 Bad Request", "text/plain", b"bad request\n"
        except ConnectionError:
            writer.close()
            return
        headers = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(headers.encode() + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    def _answer(self, head: bytes) -> tuple[str, str, bytes]:
        if len(head) > MAX_REQUEST_BYTES:
            return "431 Request Header Fields Too Large", "text/plain", b"headers too large\n"
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/healthz":
            return "200 OK", "application/json", json.dumps(self.health()).encode() + b"\n"
        return "404 Not Found", "text/plain", b"not found: try /metrics or /healthz\n"
