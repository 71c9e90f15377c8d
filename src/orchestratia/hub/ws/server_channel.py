"""``/ws/server``: one socket per daemon. ``auth`` first, then hello/heartbeats (SPEC §5)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from orchestratia.hub.actions import fleet
from orchestratia.hub.errors import Conflict, Unauthorized
from orchestratia.hub.security import sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.fleet import servers
from orchestratia.hub.state import HubState
from orchestratia.hub.ws import daemon_sessions, task_delivery
from orchestratia.hub.ws.io import (
    MAX_CLOSE_REASON,
    UNSUPPORTED_FRAME,
    ChannelClosed,
    describe,
    receive_message,
    receive_text,
    send_error,
)
from orchestratia.hub.ws.registry import DaemonConnection
from orchestratia.protocol import PROTOCOL_VERSION
from orchestratia.protocol.cluster import DaemonClaimed
from orchestratia.protocol.codes import CloseCode
from orchestratia.protocol.deliveries import DeliveryAckFrame
from orchestratia.protocol.frames import (
    AuthFrame,
    AuthOkFrame,
    ErrorFrame,
    HeartbeatAckFrame,
    HeartbeatFrame,
    HelloFrame,
    PingFrame,
    PongFrame,
    auth_frame_adapter,
    daemon_frame_adapter,
    dump,
)
from orchestratia.protocol.output_frames import (
    BINARY_OUTPUT,
    BINARY_PROTOCOL,
    OutputFrameError,
    unpack_session_output,
)
from orchestratia.protocol.sessions import (
    SessionModeFrame,
    SessionOutputFrame,
    SessionScreenFrame,
)

log = logging.getLogger(__name__)


async def close_with(ws: WebSocket, close: CloseCode, code: str, message: str) -> None:
    """Tell the daemon why in a fatal error frame, then close."""
    with contextlib.suppress(Exception):
        await send_error(ws, code, message, fatal=True)
        await ws.close(code=close, reason=message[:MAX_CLOSE_REASON])


async def authenticate(ws: WebSocket, hub: HubState, ip: str) -> DaemonConnection | None:
    try:
        raw = await receive_text(ws, hub.settings.max_ws_frame_bytes, hub.settings.auth_timeout)
    except TimeoutError:
        await close_with(
            ws, CloseCode.AUTH_TIMEOUT, "auth_timeout", "no auth frame within deadline"
        )
        return None
    try:
        frame = auth_frame_adapter.validate_json(raw)
    except ValidationError as exc:
        await close_with(
            ws,
            CloseCode.PROTOCOL_ERROR,
            "auth_required",
            f"first frame must be auth ({describe(exc)})",
        )
        return None
    arrived = time.monotonic()
    async with hub.auth_slots:
        if time.monotonic() - arrived > hub.settings.auth_queue_timeout:
            # The daemon has likely given up on this answer: no database work for it; its
            # retry, after its backoff, finds the hub less busy.
            await close_with(ws, CloseCode.TRY_AGAIN, "busy", "hub busy; retry later")
            return None
        return await _authenticated(ws, hub, ip, frame)


async def _authenticated(
    ws: WebSocket, hub: HubState, ip: str, frame: AuthFrame
) -> DaemonConnection | None:
    async with hub.sessionmaker() as db:
        try:
            server = await servers.authenticate_key(
                db, frame.api_key, audit.Actor("anonymous", None, ip)
            )
        except Unauthorized as exc:
            await close_with(ws, exc.close_code, "unauthorized", exc.detail)
            return None
        protocol = frame.protocol or 1
        binary = protocol >= BINARY_PROTOCOL and BINARY_OUTPUT in frame.capabilities
        conn = DaemonConnection(
            server.id, server.project_id, ws, protocol, binary, tenant_id=server.tenant_id
        )
        conn.reported = _reported(server.agent_version, server.capabilities, server.repos)
        conn.key_hash = sha256_hex(frame.api_key)
        async with hub.registry.turn(server.id):
            # Claimed before the server is marked connected: an older socket of this daemon's
            # on another replica, closing now, then sees the claim and does not mark it
            # disconnected after this.
            await hub.bus.claim(server.id, protocol)
            try:
                updated = await servers.touch(db, server.id, connected=True, protocol=protocol)
            except BaseException:
                if hub.registry.get(server.id) is None:  # no socket here holds it after all
                    await hub.bus.release(server.id)
                raise
            previous = hub.registry.add(conn)
    if previous is not None:
        previous.retired = True
        await previous.close(Conflict("replaced by a newer connection"))
        # What the old socket took in is stored before the new one reads the recording's ends.
        await hub.output_writer.flush(previous)
    # Another replica may hold an older socket of this daemon's (a half-open link, a balancer
    # that moved it): it retires that one without calling the server disconnected.
    await hub.bus.broadcast(DaemonClaimed(origin=hub.bus.replica_id, server_id=server.id))
    # Announced only now: a dashboard acting on the online server needs it registered here.
    await fleet.announce(hub, updated)
    await conn.send_text(
        dump(
            AuthOkFrame(
                server_id=server.id,
                protocol=min(protocol, PROTOCOL_VERSION),
                heartbeat_interval=hub.settings.heartbeat_interval,
            )
        )
    )
    return conn


async def handle_binary(conn: DaemonConnection, hub: HubState, message: bytes) -> None:
    if not conn.binary:
        error = ErrorFrame(code=UNSUPPORTED_FRAME, message="binary frames are not negotiated")
        await conn.send_text(dump(error))
        return
    try:
        frame = unpack_session_output(message)
    except OutputFrameError as exc:
        await conn.send_text(dump(ErrorFrame(code="bad_frame", message=str(exc))))
        return
    await daemon_sessions.output(
        conn, hub, frame.session_id, frame.offset, frame.data, frame.redactions
    )


async def handle_frame(conn: DaemonConnection, hub: HubState, raw: str) -> None:
    try:
        frame = daemon_frame_adapter.validate_json(raw)
    except ValidationError as exc:
        await conn.send_text(dump(ErrorFrame(code="bad_frame", message=describe(exc))))
        return
    if not isinstance(frame, SessionOutputFrame) and not await hub.output_writer.flush(conn):
        # Output before this frame (a close, a gap, a snapshot...) is stored before it is
        # handled; when that failed the socket is closing and the daemon resyncs.
        raise ChannelClosed
    await conn.acks_sent()  # and acked before anything answers this frame
    if isinstance(frame, HelloFrame | HeartbeatFrame | PingFrame):
        await _server_frame(conn, hub, frame)
    elif isinstance(frame, SessionScreenFrame | SessionModeFrame):
        return  # legacy periodic screen reports: we snapshot on demand instead
    elif isinstance(frame, DeliveryAckFrame):
        await fleet.on_ack(hub, conn.server_id, frame)
    else:
        await daemon_sessions.handle(conn, hub, frame)


async def _server_frame(
    conn: DaemonConnection, hub: HubState, frame: HelloFrame | HeartbeatFrame | PingFrame
) -> None:
    # Only these frames touch the server row: output frames are far too frequent for a write
    # each, and an open socket already counts as alive (see liveness.sweep_stale). Heartbeats,
    # the bulk of a fleet's traffic, are written in batches (``fleet.flush_heartbeats``).
    if isinstance(frame, HelloFrame):
        reported = _reported(frame.version, frame.capabilities, frame.repos)
        if reported != conn.reported:  # a new agent version, say: shown at once
            await fleet.touch(
                hub, conn.server_id, system_info=frame.system_info or None, **reported
            )
            conn.reported = reported
        else:  # the usual reconnect: only the load changed, written with the heartbeats
            hub.heartbeats.add(conn.server_id, frame.system_info or None)
        if await daemon_sessions.reconcile_hello(conn, hub, frame):
            # Pending deliveries belong to live sessions. One committed after reconcile read
            # goes out through ``task_delivery.send``: this socket is registered already.
            await task_delivery.resend_pending(hub, conn)
        if frame.sessions:
            # Capacity is live sessions (reconcile lost every one the hello does not list), so
            # a daemon without any brings none: no assignment pass per reconnecting daemon.
            await fleet.on_capacity(hub, conn.project_id)
    elif isinstance(frame, HeartbeatFrame):
        hub.heartbeats.add(conn.server_id, frame.system_info or None)
        await conn.send_text(dump(HeartbeatAckFrame()))
    else:
        hub.heartbeats.add(conn.server_id, None)
        await conn.send_text(dump(PongFrame()))


def _reported(
    version: str | None, capabilities: list[str] | None, repos: dict[str, str] | None
) -> dict[str, Any]:
    """The server row's fields a hello sets, as ``servers.touch`` takes them."""
    return {"agent_version": version, "capabilities": capabilities or [], "repos": repos or {}}


async def server_channel(ws: WebSocket) -> None:
    hub: HubState = ws.app.state.hub
    await ws.accept()
    ip = ws.client.host if ws.client else "unknown"
    conn: DaemonConnection | None = None
    try:
        conn = await authenticate(ws, hub, ip)
        if conn is None:
            return
        if conn.protocol < 2:  # no hello will come: hand over what waited for it now
            await task_delivery.resend_pending(hub, conn)
            await fleet.on_capacity(hub, conn.project_id)
        # Our daemons heartbeat over the socket; the public agent relies on socket pings instead,
        # so silence only ends protocol-2 connections.
        idle = hub.settings.heartbeat_timeout if conn.protocol >= 2 else None
        while True:
            try:
                message = await receive_message(ws, hub.settings.max_ws_frame_bytes, idle)
            except TimeoutError:
                await close_with(
                    ws, CloseCode.IDLE_TIMEOUT, "idle_timeout", "no traffic from daemon"
                )
                return
            if isinstance(message, bytes):
                await handle_binary(conn, hub, message)
            else:
                await handle_frame(conn, hub, message)
    except (ChannelClosed, WebSocketDisconnect):
        pass
    finally:
        if conn is not None:
            conn.retired = True
            # Stored before the server shows disconnected: what the hub holds is final then.
            await hub.output_writer.flush(conn)
            async with hub.registry.turn(conn.server_id):
                if hub.registry.remove(conn) and await hub.bus.release(conn.server_id):
                    await fleet.disconnected(hub, conn.server_id)
        if ws.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await ws.close()
