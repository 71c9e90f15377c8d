"""``/ws/dashboard``: live fleet updates for a logged-in browser. Cookie auth, Origin-checked."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from orchestratia.hub.errors import HubError
from orchestratia.hub.services import auth, projects, servers
from orchestratia.hub.services.auth import Principal
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.io import ChannelClosed, describe, receive_text
from orchestratia.protocol.codes import CloseCode
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


async def _principal(ws: WebSocket, hub: HubState) -> Principal | None:
    token = ws.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with hub.sessionmaker() as db:
        try:
            return await auth.resolve(db, token)
        except HubError:
            return None


async def _pump(ws: WebSocket, queue: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        await ws.send_json(await queue.get())


async def dashboard_channel(ws: WebSocket) -> None:
    hub: HubState = ws.app.state.hub
    if not origin_allowed(ws, hub.settings.allowed_origins):
        await ws.close(code=CloseCode.FORBIDDEN, reason="origin not allowed")
        return
    principal = await _principal(ws, hub)
    if principal is None:
        await ws.close(code=CloseCode.UNAUTHORIZED, reason="not authenticated")
        return
    await ws.accept()
    subscription: tuple[str, asyncio.Queue[dict[str, Any]], asyncio.Task[None]] | None = None
    try:
        while True:
            raw = await receive_text(ws, hub.settings.max_ws_frame_bytes, None)
            try:
                frame = dashboard_client_adapter.validate_json(raw)
            except ValidationError as exc:
                await ws.send_text(dump(ErrorFrame(code="bad_frame", message=describe(exc))))
                continue
            async with hub.sessionmaker() as db:
                try:
                    await projects.access(db, principal, frame.project_id)
                except HubError as exc:
                    await ws.send_text(dump(ErrorFrame(code="not_found", message=exc.detail)))
                    continue
                if subscription is not None:
                    hub.bus.unsubscribe(subscription[0], subscription[1])
                    subscription[2].cancel()
                # Join the feed before reading the snapshot: a change landing in between is then
                # queued behind the snapshot instead of lost.
                queue = hub.bus.subscribe(frame.project_id)
                rows = await servers.list_for_project(db, principal, frame.project_id)
            await ws.send_json({"type": "subscribed", "project_id": frame.project_id})
            for row in rows:
                await ws.send_json(servers.server_event(row))
            subscription = (frame.project_id, queue, asyncio.create_task(_pump(ws, queue)))
    except (ChannelClosed, WebSocketDisconnect):
        pass
    finally:
        if subscription is not None:
            hub.bus.unsubscribe(subscription[0], subscription[1])
            subscription[2].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await subscription[2]
