"""Replies awaited from daemons (scrollback captures), matched by request id."""

from __future__ import annotations

import asyncio


class PendingReplies:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[str]] = {}

    def expect(self, request_id: str) -> asyncio.Future[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        self._waiting.pop(request_id, None)

    def resolve(self, request_id: str, value: str) -> None:
        future = self._waiting.get(request_id)
        if future is not None and not future.done():
            future.set_result(value)
