"""``/ws/dashboard``: live fleet updates for a logged-in browser. Cookie auth, Origin-checked."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import ExitStack
from urllib.parse import urlsplit

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from orchestratia.hub.bus import Feed
from orchestratia.hub.errors import Forbidden, HubError, Unauthorized
from orchestratia.hub.services.access import auth, projects
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet import servers
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.io import ChannelClosed, close_for, describe, receive_text
from orchestratia.hub.ws.socket_guards import Grant, SocketGuard
from orchestratia.protocol.dashboard_events import SubscribedFrame, wire
from orchestratia.protocol.frames import ErrorFrame, dashboard_client_adapter, dump

SESSION_COOKIE = "orc_session"


def origin_allowed(ws: WebSocket, allowed: list[str]) -> bool:
    """Same-origin, or listed in settings: stops other sites riding the user's cookie."""
    origin = ws.headers.get("origin")
    if origin is None:
        return False
    if origin in allowed:
        return True
    return urlsplit(origin).netloc == ws.headers.get("host")


# A close reason must fit in 123 bytes.
SOCKET_LOGIN_NEEDED = (
    "not authenticated: live feeds need a dashboard login; API keys work on the REST API only"
)


async def _principal(ws: WebSocket, hub: HubState) -> Principal | None:
    token = ws.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with hub.sessionmaker() as db:
        try:
            return await auth.resolve(db, token)
        except HubError:
            return None


class _Feed:
    """The project events this socket follows (one project at a time); shut for good once the
    socket's login or membership is revoked."""

    def __init__(self, ws: WebSocket, hub: HubState) -> None:
        self._ws, self._bus, self._grid = ws, hub.bus, hub.grid
        self._current: tuple[str, Feed, asyncio.Task[None]] | None = None
        # Registers this socket with the grid watch while it follows a project.
        self._watch = ExitStack()
        self.shut = False

    @property
    def project_ids(self) -> set[str]:
        return {self._current[0]} if self._current else set()

    def follow(self, project_id: str, queue: Feed, *, screens: bool) -> None:
        self.drop()
        if self.shut:
            self._bus.unsubscribe(project_id, queue)
            return
        self._watch.enter_context(self._grid.watching(project_id, screens=screens))
        pump = asyncio.create_task(self._pump(queue, screens))
        self._current = (project_id, queue, pump)

    def drop(self) -> None:
        self._watch.close()
        if self._current is not None:
            project_id, queue, task = self._current
            self._bus.unsubscribe(project_id, queue)
            task.cancel()
            self._current = None

    def shut_down(self) -> None:
        self.shut = True
        self.drop()

    async def close(self) -> None:
        """Shut down and reap the pump (which fails when the peer vanished mid-send)."""
        task = self._current[2] if self._current else None
        self.shut_down()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _pump(self, queue: Feed, screens: bool) -> None:
        while True:
            message = await queue.get()
            # Miniatures are for grid pages; other pages of the project would only drop them.
            if screens or message.get("type") != "session_screen":
                await self._ws.send_json(message)


async def dashboard_channel(ws: WebSocket) -> None:
    hub: HubState = ws.app.state.hub
    if not origin_allowed(ws, hub.settings.allowed_origins):
        await close_for(ws, Forbidden("origin not allowed"))
        return
    # Guarded from before the authorisation, so a revocation landing meanwhile is not missed.
    with hub.guards.watch(ws) as guard:
        principal = await _principal(ws, hub)
        if principal is None:
            await close_for(ws, Unauthorized(SOCKET_LOGIN_NEEDED))
            return
        await ws.accept()
        feed = _Feed(ws, hub)
        guard.bind(Grant.login(principal), on_revoke=feed.shut_down)
        try:
            await _serve(ws, hub, principal, guard, feed)
        except (ChannelClosed, WebSocketDisconnect):
            pass
        finally:
            await feed.close()


async def _serve(
    ws: WebSocket, hub: HubState, principal: Principal, guard: SocketGuard, feed: _Feed
) -> None:
    while not feed.shut:
        raw = await receive_text(ws, hub.settings.max_ws_frame_bytes, None)
        try:
            frame = dashboard_client_adapter.validate_json(raw)
        except ValidationError as exc:
            await ws.send_text(dump(ErrorFrame(code="bad_frame", message=describe(exc))))
            continue
        # Bound to the project before its access check: a removal committed after the check
        # reaches this socket, one committed before fails the check.
        guard.project_ids = feed.project_ids | {frame.project_id}
        async with hub.sessionmaker() as db:
            try:
                await projects.access(db, principal, frame.project_id)
            except HubError as exc:
                guard.project_ids = feed.project_ids
                await ws.send_text(dump(ErrorFrame(code="not_found", message=exc.detail)))
                continue
            feed.drop()
            # Join the feed before reading the snapshot: a change landing in between is then
            # queued behind the snapshot instead of lost.
            queue = hub.bus.subscribe(frame.project_id)
            rows = await servers.list_for_project(db, principal, frame.project_id)
        guard.project_ids = {frame.project_id}
        if feed.shut:
            hub.bus.unsubscribe(frame.project_id, queue)
            return
        await ws.send_json(wire(SubscribedFrame(project_id=frame.project_id)))
        for row in rows:
            await ws.send_json(wire(servers.server_event(row)))
        for event in hub.grid.current(frame.project_id):
            if frame.screens or event.type != "session_screen":
                await ws.send_json(wire(event))
        feed.follow(frame.project_id, queue, screens=frame.screens)
