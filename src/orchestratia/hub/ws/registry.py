"""Daemon connections held by this hub process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from orchestratia.hub.errors import HubError
from orchestratia.hub.ws.io import close_for
from orchestratia.protocol.base import dump
from orchestratia.protocol.sessions import SessionOutputAckFrame


@dataclass(eq=False)
class OwnedSession:
    """A session this connection's daemon owns, as its output path needs it: looked up once,
    not per frame. ``accepted`` is the end of what the connection took in (published, perhaps
    not yet stored); ``durable`` the end the recording holds as of our last commit."""

    id: str
    tenant_id: str
    project_id: str
    accepted: int
    durable: int


@dataclass(eq=False)
class DaemonConnection:
    server_id: str
    project_id: str
    websocket: WebSocket
    protocol: int
    # Announced ``binary_output`` and asked for protocol 3 or later: may send binary frames.
    binary: bool = False
    tenant_id: str = ""  # the server's, as authenticated
    # What the server row held at auth of what a hello reports (version, capabilities, repos):
    # a hello that changes none of it needs no write of its own.
    reported: dict[str, Any] = field(default_factory=dict)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    owned: dict[str, OwnedSession] = field(default_factory=dict)
    # Output taken in and not yet committed, and the commit that will hold its last byte.
    pending_bytes: int = 0
    stored: asyncio.Future[None] | None = None
    # Replaced, closing, or a commit of its output failed: nothing more of it is taken in.
    retired: bool = False
    # Acks waiting for this connection's ack sender, the latest end per session.
    _acks: dict[str, int] = field(default_factory=dict)
    # The last frame other replicas asked us to send it (``daemon_routing``), kept in order.
    forwarded: asyncio.Future[None] | None = None
    # The hash of the key it authenticated with (re-checked in case its revocation was lost).
    key_hash: str = ""
    _ack_sender: asyncio.Task[None] | None = None
    _closing: set[asyncio.Task[None]] = field(default_factory=set)

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            await self.websocket.send_text(text)

    def queue_ack(self, session_id: str, offset: int) -> None:
        """Ack ``offset`` soon, from a task of this connection's own: the group commit serves
        every daemon and must never wait on one whose socket does not drain."""
        self._acks[session_id] = max(offset, self._acks.get(session_id, 0))
        if self._ack_sender is None or self._ack_sender.done():
            self._ack_sender = asyncio.create_task(self._send_acks())

    async def acks_sent(self) -> None:
        """Until the acks queued so far are sent. Called by this connection's own task before it
        answers another frame, so its replies keep the order of the frames they answer."""
        sender = self._ack_sender
        if sender is not None and not sender.done():
            await asyncio.shield(sender)

    async def _send_acks(self) -> None:
        with contextlib.suppress(Exception):  # a socket gone meanwhile: the daemon resyncs
            while self._acks:
                session_id = next(iter(self._acks))
                offset = self._acks.pop(session_id)
                ack = SessionOutputAckFrame(session_id=session_id, offset=offset)
                await self.send_text(dump(ack))

    def close_soon(self, error: HubError) -> None:
        """``close`` without waiting for it (a socket that does not drain can hold a close)."""
        task = asyncio.create_task(self.close(error))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self, error: HubError) -> None:
        """Close the socket over ``error``; one already gone or mid-close counts as closed."""
        with contextlib.suppress(Exception):
            await close_for(self.websocket, error)


class ConnectionRegistry:
    def __init__(self) -> None:
        self._by_server: dict[str, DaemonConnection] = {}
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, server_id: str) -> AsyncIterator[None]:
        """One connect or disconnect of ``server_id`` at a time. A daemon that reconnects at once
        has its new socket's "online" and its old socket's "disconnected" written in the order
        the registry saw them, not in whichever order their transactions happened to commit."""
        lock, users = self._turns.get(server_id) or (asyncio.Lock(), 0)
        self._turns[server_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[server_id]
            if users == 1:
                del self._turns[server_id]
            else:
                self._turns[server_id] = (lock, users - 1)

    def add(self, conn: DaemonConnection) -> DaemonConnection | None:
        """Register ``conn``; returns the connection it replaces, which the caller should close."""
        previous = self._by_server.get(conn.server_id)
        self._by_server[conn.server_id] = conn
        return previous

    def remove(self, conn: DaemonConnection) -> bool:
        """Forget ``conn``; False when a newer connection for the same server already took over."""
        if self._by_server.get(conn.server_id) is conn:
            del self._by_server[conn.server_id]
            return True
        return False

    async def disconnect(self, server_id: str, error: HubError) -> None:
        """Close the server's live socket, if this hub holds one, over ``error``. The socket's
        channel then forgets it and marks the server disconnected, as for any other close."""
        conn = self._by_server.get(server_id)
        if conn is not None:
            await conn.close(error)

    def get(self, server_id: str) -> DaemonConnection | None:
        return self._by_server.get(server_id)

    def connections(self) -> list[DaemonConnection]:
        return list(self._by_server.values())

    def connected_ids(self) -> set[str]:
        return set(self._by_server)
