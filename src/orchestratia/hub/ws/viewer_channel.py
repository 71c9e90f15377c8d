"""``/ws/sessions/{id}/view``: one browser terminal (see docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.errors import HubError, Unauthorized
from orchestratia.hub.services.access import auth, projects, share_links
from orchestratia.hub.services.fleet import sessions
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.daemon_routing import send_to_daemon
from orchestratia.hub.ws.dashboard_channel import SESSION_COOKIE, origin_allowed
from orchestratia.hub.ws.io import ChannelClosed, close_for, describe, receive_text
from orchestratia.hub.ws.session_links import relay_for, release_relay
from orchestratia.hub.ws.socket_guards import Grant, SocketGuard
from orchestratia.hub.ws.terminal_relay import SessionRelay
from orchestratia.hub.ws.viewer_pump import run_viewer
from orchestratia.hub.ws.viewer_queue import Viewer
from orchestratia.protocol.base import b64encode, dump
from orchestratia.protocol.codes import CloseCode
from orchestratia.protocol.frames import ErrorFrame
from orchestratia.protocol.sessions import SessionInputFrame, SessionResizeFrame
from orchestratia.protocol.viewer import (
    InputFrame,
    JoinFrame,
    ReleaseControlFrame,
    ResizeFrame,
    TakeControlFrame,
    viewer_client_adapter,
)

JOIN_TIMEOUT = 10.0


@dataclass(frozen=True)
class _Admission:
    session: TerminalSession
    read_only: bool
    grant: Grant


async def _authorize(ws: WebSocket, hub: HubState, session_id: str) -> _Admission | None:
    """Who may watch the session and how; None when not allowed to."""
    async with hub.sessionmaker() as db:
        share = ws.query_params.get("share")
        try:
            if share:
                link, session = await share_links.resolve_link(db, share)
                if session.id != session_id:
                    return None
                return _Admission(session, True, Grant.share_link(link.token_hash, link.expires_at))
            if not origin_allowed(ws, hub.settings.allowed_origins):
                return None
            token = ws.cookies.get(SESSION_COOKIE)
            if not token:
                return None
            principal = await auth.resolve(db, token)
            session = await sessions.get(db, principal, session_id)
            acc = await projects.access(db, principal, session.project_id)
            return _Admission(session, not acc.can_write, Grant.login(principal))
        except HubError:
            return None


async def _error(viewer: Viewer, code: str, message: str) -> None:
    viewer.send_json(dump(ErrorFrame(code=code, message=message)))


async def _handle(
    hub: HubState, relay: SessionRelay, session: TerminalSession, viewer: Viewer, raw: str
) -> None:
    try:
        frame = viewer_client_adapter.validate_json(raw)
    except ValidationError as exc:
        await _error(viewer, "bad_frame", describe(exc))
        return
    if isinstance(frame, JoinFrame):
        await _error(viewer, "already_joined", "join is only valid as the first frame")
    elif isinstance(frame, TakeControlFrame):
        if not relay.take_control(viewer):
            await _error(viewer, "read_only", "this view is read-only")
    elif isinstance(frame, ReleaseControlFrame):
        relay.release_control(viewer)
    elif not relay.is_driver(viewer):
        # Observers never type or resize; say so instead of silently dropping.
        await _error(viewer, "not_driver", "take control before typing or resizing")
    elif isinstance(frame, InputFrame):
        sent = await send_to_daemon(
            hub,
            session.server_id,
            SessionInputFrame(session_id=session.id, data=b64encode(frame.data.encode())),
        )
        if not sent:
            await _error(viewer, "server_offline", "the server is not connected")
    elif isinstance(frame, ResizeFrame):
        await send_to_daemon(
            hub,
            session.server_id,
            SessionResizeFrame(session_id=session.id, cols=frame.cols, rows=frame.rows),
        )
        relay.update_view(cols=frame.cols, rows=frame.rows)


async def viewer_channel(ws: WebSocket, session_id: str) -> None:
    hub: HubState = ws.app.state.hub
    # Guarded from before the authorisation, so a revocation landing meanwhile is not missed.
    with hub.guards.watch(ws) as guard:
        await _serve(ws, hub, guard, session_id)


async def _serve(ws: WebSocket, hub: HubState, guard: SocketGuard, session_id: str) -> None:
    allowed = await _authorize(ws, hub, session_id)
    # Accept even to refuse: a refused handshake reaches a browser as a bare 1006 it would retry
    # forever, while an Unauthorized close tells the terminal to stop (docs/protocol.md).
    await ws.accept()
    if allowed is None:
        await close_for(ws, Unauthorized("not allowed to view this session"))
        return
    session = allowed.session
    limit = hub.settings.max_ws_frame_bytes
    try:
        raw = await receive_text(ws, limit, JOIN_TIMEOUT)
        join = JoinFrame.model_validate_json(raw)
    except (TimeoutError, ValidationError) as exc:
        message = describe(exc) if isinstance(exc, ValidationError) else "no join frame in time"
        await ws.send_text(dump(ErrorFrame(code="join_required", message=message, fatal=True)))
        await ws.close(code=CloseCode.PROTOCOL_ERROR)
        return
    except (ChannelClosed, WebSocketDisconnect):
        return
    relay = relay_for(hub, session)
    viewer = Viewer(ws, allowed.read_only)
    relay.add(viewer)

    def stop_typing() -> None:
        relay.make_read_only(viewer)

    guard.read_only = allowed.read_only  # a viewer from the start needs no telling
    # Revoked: it stops typing at once, while the close handshake is still under way.
    guard.bind(
        allowed.grant,
        project_id=session.project_id,
        on_revoke=stop_typing,
        on_read_only=stop_typing,
    )
    sender = asyncio.create_task(run_viewer(relay, viewer, join.resume_offset))
    try:
        while True:
            await _handle(hub, relay, session, viewer, await receive_text(ws, limit, None))
    except (ChannelClosed, WebSocketDisconnect):
        pass
    finally:
        relay.remove(viewer)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        release_relay(hub, session)
