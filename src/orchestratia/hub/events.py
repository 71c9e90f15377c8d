"""In-process fan-out of dashboard events, keyed by project."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

QUEUE_LIMIT = 1000


class EventBus:
    """Each subscriber gets a bounded queue; a subscriber that falls behind loses its oldest events
    rather than slowing publishers (dashboard state is re-fetchable, so this is safe)."""

    def __init__(self) -> None:
        self._subs: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    def subscribe(self, project_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._subs[project_id].add(queue)
        return queue

    def unsubscribe(self, project_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        subs = self._subs.get(project_id)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subs[project_id]

    def publish(self, project_id: str, event: dict[str, Any]) -> None:
        for queue in list(self._subs.get(project_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
