"""The bus revocations travel on, from the replica that made the change to every replica.

Routes publish after their change is committed; each replica's ``SocketGuards`` subscribes and
closes or downgrades the sockets it holds. ``LocalRevocationBus`` serves a single hub process; a
bus shared by several replicas (Redis pub/sub) implements the same two methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from orchestratia.protocol.revocations import Revocation

RevocationHandler = Callable[[Revocation], None]


class RevocationBus(Protocol):
    async def publish(self, event: Revocation) -> None:
        """Deliver ``event`` to every subscriber on every replica."""

    def subscribe(self, handler: RevocationHandler) -> None:
        """Call ``handler`` for each event published from now on."""


class LocalRevocationBus:
    """In-process delivery: subscribers have handled the event when ``publish`` returns."""

    def __init__(self) -> None:
        self._handlers: list[RevocationHandler] = []

    async def publish(self, event: Revocation) -> None:
        for handler in list(self._handlers):
            handler(event)

    def subscribe(self, handler: RevocationHandler) -> None:
        self._handlers.append(handler)
