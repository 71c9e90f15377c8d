"""Daemon connections held by this hub process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.websockets import WebSocket


@dataclass(eq=False)
class DaemonConnection:
    server_id: str
    project_id: str
    websocket: WebSocket
    protocol: int
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            await self.websocket.send_text(text)


class ConnectionRegistry:
    def __init__(self) -> None:
        self._by_server: dict[str, DaemonConnection] = {}

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

    def get(self, server_id: str) -> DaemonConnection | None:
        return self._by_server.get(server_id)

    def connected_ids(self) -> set[str]:
        return set(self._by_server)
