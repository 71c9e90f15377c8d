"""Scrollback captures awaited from daemons, matched by request id and session."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from orchestratia.protocol.sessions import ScrollbackCapturedFrame


@dataclass(frozen=True)
class _Waiter:
    server_id: str
    session_id: str
    future: asyncio.Future[ScrollbackCapturedFrame]


class PendingReplies:
    def __init__(self) -> None:
        self._waiting: dict[str, _Waiter] = {}

    def expect(
        self, request_id: str, server_id: str, session_id: str
    ) -> asyncio.Future[ScrollbackCapturedFrame]:
        future: asyncio.Future[ScrollbackCapturedFrame] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = _Waiter(server_id, session_id, future)
        return future

    def forget(self, request_id: str) -> None:
        self._waiting.pop(request_id, None)

    def resolve(self, server_id: str, frame: ScrollbackCapturedFrame) -> None:
        """Hand ``frame`` from ``server_id``'s daemon to the requests it answers: the one it names,
        or, from a public agent (which echoes no request id), every request for its session. A
        daemon never answers for another server's session."""
        if frame.request_id is not None:
            waiter = self._waiting.get(frame.request_id)
            waiters = [waiter] if waiter is not None else []
        else:
            waiters = list(self._waiting.values())
        for w in waiters:
            if (
                w.server_id == server_id
                and w.session_id == frame.session_id
                and not w.future.done()
            ):
                w.future.set_result(frame)
