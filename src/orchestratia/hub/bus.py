"""The bus between hub replicas, and what every replica can ask of it.

- Dashboard events for a project's browsers and access revocations for every replica's sockets
  (only the after-commit step publishes them, so nobody hears of a change that rolled back).
- Messages between replicas (``protocol.cluster``): to every replica, or to the one holding a
  daemon's socket.
- Terminal output to the replicas following a session (binary, framed once).
- The directory of which replica holds which daemon's socket, with leases: a replica that dies
  stops holding its daemons within ``LEASE_SECONDS``.

``LocalBus`` serves a single hub process (no other replica: output and directory stay in this
process); ``hub.redis_bus.RedisBus`` serves several replicas over Redis. Both implement ``Bus``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from orchestratia.protocol.cluster import ClusterMessage, OutputMessage
from orchestratia.protocol.dashboard_events import DashboardEvent, wire
from orchestratia.protocol.revocations import Revocation

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000
LEASE_SECONDS = 15.0
RevocationHandler = Callable[[Revocation], None]
MessageHandler = Callable[[ClusterMessage], Awaitable[None]]
# project id, session id, the output; called on the event loop, must not block.
OutputHandler = Callable[[str, str, OutputMessage], None]
# A dashboard feed holds events in their wire form: serialized once, however many browsers follow.
Feed = asyncio.Queue[dict[str, Any]]


def new_replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Holder:
    """The replica holding a daemon's socket, and the protocol that daemon speaks."""

    replica_id: str
    protocol: int


@dataclass(eq=False)
class Following:
    """A subscription to output: one session's (``session_id``) or a whole project's."""

    project_id: str
    session_id: str | None
    handler: OutputHandler


class Bus(Protocol):
    replica_id: str
    shared: bool  # other replicas may exist

    async def start(self) -> None:
        """Connect; after this the bus carries messages."""

    async def close(self) -> None:
        """Stop; pending messages may be dropped."""

    # --- dashboard events and revocations ---------------------------------------------------

    async def publish(self, project_id: str, event: DashboardEvent) -> None:
        """Deliver ``event`` to every feed following ``project_id``, on every replica."""

    def subscribe(self, project_id: str) -> Feed:
        """A feed of the project's events published from now on (this replica's browser)."""

    def unsubscribe(self, project_id: str, feed: Feed) -> None:
        """Stop filling ``feed``."""

    async def publish_revocation(self, event: Revocation) -> None:
        """Deliver ``event`` to every revocation handler on every replica."""

    def subscribe_revocations(self, handler: RevocationHandler) -> None:
        """Call ``handler`` for each revocation published from now on."""

    # --- messages between replicas ----------------------------------------------------------

    async def broadcast(self, message: ClusterMessage) -> None:
        """Deliver ``message`` to the handler of every replica, this one included."""

    async def send_to(self, replica_id: str, message: ClusterMessage) -> None:
        """Deliver ``message`` to the handler of one replica (maybe this one)."""

    def on_message(self, handler: MessageHandler) -> None:
        """The handler of this replica's messages (one; set once at start-up)."""

    # --- terminal output ----------------------------------------------------------------------

    def publish_output(
        self, project_id: str, session_id: str, offset: int, data: bytes | memoryview
    ) -> None:
        """Offer output this replica took in to the other replicas following it. Never waits:
        a follower that misses some repairs the gap from the recording by offset."""

    def follow_output(self, following: Following) -> None:
        """Call ``following.handler`` for output other replicas publish."""

    def unfollow_output(self, following: Following) -> None: ...

    def on_resync(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Call ``callback`` after the bus lost messages (a reconnect): followers repair gaps."""

    # --- who holds which daemon ----------------------------------------------------------------

    async def claim(self, server_id: str, protocol: int) -> None:
        """This replica holds ``server_id``'s socket now."""

    async def release(self, server_id: str) -> bool:
        """This replica's socket for ``server_id`` closed; False when another replica claimed
        the server since (then it is not disconnected)."""

    async def holder(self, server_id: str) -> Holder | None:
        """The live replica holding ``server_id``'s socket, if any."""

    async def directory_holder(self, server_id: str) -> Holder | None:
        """The live replica the shared directory names for ``server_id`` (not this replica's own
        record of what it holds: that may be older)."""

    async def connected_ids(self) -> set[str]:
        """Servers with a daemon connected to any live replica."""


class LocalBus:
    """One hub process. Each feed is bounded: one that falls behind loses its oldest events
    rather than slowing publishers (dashboard state is re-fetchable, so this is safe).
    Revocation handlers and message handlers have run when the publishing call returns."""

    shared = False

    def __init__(self, replica_id: str | None = None) -> None:
        self.replica_id = replica_id or new_replica_id()
        self._feeds: dict[str, set[Feed]] = defaultdict(set)
        self._handlers: list[RevocationHandler] = []
        self._on_message: MessageHandler | None = None
        self._held: dict[str, int] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish(self, project_id: str, event: DashboardEvent) -> None:
        self.deliver_event(project_id, wire(event))

    def deliver_event(self, project_id: str, message: dict[str, Any]) -> None:
        """Fill this replica's feeds of ``project_id`` with an event in its wire form."""
        for feed in list(self._feeds.get(project_id, ())):
            if feed.full():
                feed.get_nowait()
            feed.put_nowait(message)

    def subscribe(self, project_id: str) -> Feed:
        feed: Feed = asyncio.Queue(QUEUE_LIMIT)
        self._feeds[project_id].add(feed)
        return feed

    def unsubscribe(self, project_id: str, feed: Feed) -> None:
        feeds = self._feeds.get(project_id)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self._feeds[project_id]

    def following_events(self, project_id: str) -> bool:
        return project_id in self._feeds

    async def publish_revocation(self, event: Revocation) -> None:
        self.deliver_revocation(event)

    def deliver_revocation(self, event: Revocation) -> None:
        for handler in list(self._handlers):
            handler(event)

    def subscribe_revocations(self, handler: RevocationHandler) -> None:
        self._handlers.append(handler)

    async def broadcast(self, message: ClusterMessage) -> None:
        await self.deliver_message(message)

    async def send_to(self, replica_id: str, message: ClusterMessage) -> None:
        if replica_id == self.replica_id:
            await self.deliver_message(message)

    def on_message(self, handler: MessageHandler) -> None:
        self._on_message = handler

    async def deliver_message(self, message: ClusterMessage) -> None:
        if self._on_message is None:
            return
        try:
            await self._on_message(message)
        except Exception:
            # One bad message must not take the bus (and every replica's traffic) down with it.
            log.exception("handling %s from %s failed", message.type, message.origin)

    def publish_output(
        self, project_id: str, session_id: str, offset: int, data: bytes | memoryview
    ) -> None:
        return None  # no other replica

    def follow_output(self, following: Following) -> None:
        return None

    def unfollow_output(self, following: Following) -> None:
        return None

    def on_resync(self, callback: Callable[[], Awaitable[None]]) -> None:
        return None  # nothing is ever lost in process

    async def claim(self, server_id: str, protocol: int) -> None:
        self._held[server_id] = protocol

    async def release(self, server_id: str) -> bool:
        return self._held.pop(server_id, None) is not None

    async def holder(self, server_id: str) -> Holder | None:
        protocol = self._held.get(server_id)
        return None if protocol is None else Holder(self.replica_id, protocol)

    async def directory_holder(self, server_id: str) -> Holder | None:
        return await self.holder(server_id)

    async def connected_ids(self) -> set[str]:
        return set(self._held)
