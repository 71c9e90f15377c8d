"""The bus a committed change leaves the hub on: dashboard events for a project's browsers, and
revocations for the sockets every replica holds.

Only the after-commit step (``hub.actions.effects``) publishes, so nobody hears of a change that
rolled back. ``LocalBus`` serves a single hub process; a bus shared by several replicas (Redis
pub/sub) implements the same ``Bus`` protocol."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from orchestratia.protocol.dashboard_events import DashboardEvent, wire
from orchestratia.protocol.revocations import Revocation

QUEUE_LIMIT = 1000
RevocationHandler = Callable[[Revocation], None]
# A dashboard feed holds events in their wire form: serialized once, however many browsers follow.
Feed = asyncio.Queue[dict[str, Any]]


class Bus(Protocol):
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


class LocalBus:
    """In-process delivery. Each feed is bounded: one that falls behind loses its oldest events
    rather than slowing publishers (dashboard state is re-fetchable, so this is safe).
    Revocation handlers have run when ``publish_revocation`` returns."""

    def __init__(self) -> None:
        self._feeds: dict[str, set[Feed]] = defaultdict(set)
        self._handlers: list[RevocationHandler] = []

    async def publish(self, project_id: str, event: DashboardEvent) -> None:
        feeds = list(self._feeds.get(project_id, ()))
        if not feeds:
            return
        message = wire(event)
        for feed in feeds:
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

    async def publish_revocation(self, event: Revocation) -> None:
        for handler in list(self._handlers):
            handler(event)

    def subscribe_revocations(self, handler: RevocationHandler) -> None:
        self._handlers.append(handler)
