"""A TCP proxy that breaks the link between a daemon and the hub on command, for the fault suite.

The daemon's ``hub_url`` points at the proxy; the proxy forwards to the hub. Its faults act on the
connections it holds and on the ones opened while a fault lasts:

* ``blackhole()``: nothing passes either way and nobody is told, as when a router drops every
  packet. Bytes are read and thrown away, so each sender's writes succeed; new connections are
  accepted and parked (not forwarded) until ``heal()``.
* ``drop(direction)``: one direction stops, the other still flows; new connections are parked.
* ``half_open(held)``: one side's socket is reset (that side learns at once) while the other
  side's is held open and silent (it learns only by its own liveness checks), as after a NAT
  table flush or a peer host's crash. New connections are parked.
* ``heal()``: faults end. A connection that lost bytes carries a broken WebSocket stream, so it
  is closed; parked connections are then forwarded, as TCP retransmits would deliver them.

The proxy runs its own event loop in a thread, so sync tests and async ones drive it alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Side = Literal["daemon", "hub"]
Direction = Literal["to_hub", "to_daemon"]
T = TypeVar("T")
CHUNK = 65536


@dataclass(eq=False)
class _Link:
    daemon: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    hub: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    dropped: int = 0  # bytes thrown away: the stream through this link is broken
    reset: bool = False  # one side was reset: nothing can flow through it again
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def writers(self) -> list[asyncio.StreamWriter]:
        return [self.daemon[1]] + ([self.hub[1]] if self.hub else [])


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:upstream_port``; see the module doc."""

    def __init__(self, upstream_port: int, port: int) -> None:
        self.upstream_port = upstream_port
        self.port = port
        self.dropped_total = 0
        self._drop: set[Direction] = set()
        self._parking = False
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._healed: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifetime -------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- faults ---------------------------------------------------------------------------------

    def blackhole(self) -> None:
        self._call(self._fault({"to_hub", "to_daemon"}))

    def drop(self, direction: Direction) -> None:
        self._call(self._fault({direction}))

    def half_open(self, held: Side) -> None:
        """Reset the other side's sockets; keep ``held``'s open and silent."""
        self._call(self._half_open(held))

    def heal(self) -> None:
        self._call(self._heal())

    def connections(self) -> int:
        return len(self._links)

    # --- the loop's side ------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        self._healed = asyncio.Event()
        self._healed.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Handlers too: a parked one waits for a heal that will not come.
        tasks = [t for link in list(self._links) for t in link.tasks] + list(self._handlers)
        for link in list(self._links):
            self._end(link)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fault(self, drop: set[Direction]) -> None:
        assert self._healed is not None
        self._drop = drop
        self._parking = True
        self._healed.clear()

    async def _half_open(self, held: Side) -> None:
        await self._fault({"to_hub", "to_daemon"})
        for link in list(self._links):
            reset = link.hub if held == "daemon" else link.daemon
            if reset is not None:
                link.reset = True
                _reset(reset[1])

    async def _heal(self) -> None:
        assert self._healed is not None
        self._drop = set()
        self._parking = False
        for link in list(self._links):
            if link.dropped or link.reset:
                self._end(link)
        self._healed.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._healed is not None
        link = _Link((reader, writer))
        self._links.add(link)
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            if self._parking:
                await self._healed.wait()
            try:
                link.hub = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except OSError:
                return
            link.tasks = [
                asyncio.create_task(self._pump(link, link.daemon[0], link.hub[1], "to_hub")),
                asyncio.create_task(self._pump(link, link.hub[0], writer, "to_daemon")),
            ]
            # Either side closing ends the link: a half-open one stays until heal() or close().
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._end(link)
            self._links.discard(link)
            self._handlers.discard(handler)

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: Direction,
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(CHUNK):
                if direction in self._drop:
                    link.dropped += len(data)
                    self.dropped_total += len(data)
                    continue
                writer.write(data)
                await writer.drain()
        if direction in self._drop:
            # A reset or closed sender under a fault: the receiver must not hear of it.
            assert self._healed is not None
            await self._healed.wait()

    def _end(self, link: _Link) -> None:
        for writer in link.writers():
            with contextlib.suppress(Exception):
                writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN (SO_LINGER 0): the peer sees a reset connection."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
