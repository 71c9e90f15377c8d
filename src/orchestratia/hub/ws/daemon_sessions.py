"""Session frames arriving from a daemon: lifecycle, output recording and acks, snapshots."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions import fleet
from orchestratia.hub.actions import sessions as session_actions
from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.services import audit
from orchestratia.hub.services.fleet import recording, sessions
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.registry import DaemonConnection
from orchestratia.protocol.base import b64decode, dump
from orchestratia.protocol.frames import ErrorFrame, HelloFrame
from orchestratia.protocol.sessions import (
    ScrollbackCapturedFrame,
    SessionClosedFrame,
    SessionErrorFrame,
    SessionGapFrame,
    SessionOutputAckFrame,
    SessionOutputFrame,
    SessionRecoveredAckFrame,
    SessionRecoveredFrame,
    SessionSnapshotFrame,
    SessionStartedFrame,
)

log = logging.getLogger(__name__)

SessionFrame = (
    SessionStartedFrame
    | SessionErrorFrame
    | SessionOutputFrame
    | SessionClosedFrame
    | SessionRecoveredFrame
    | SessionSnapshotFrame
    | ScrollbackCapturedFrame
    | SessionGapFrame
)


async def handle(conn: DaemonConnection, hub: HubState, frame: SessionFrame) -> None:
    if isinstance(frame, SessionRecoveredFrame):
        await _legacy_recovered(conn, hub, frame)
        return
    if isinstance(frame, ScrollbackCapturedFrame):
        hub.scrollbacks.resolve(conn.server_id, frame)
        return
    async with hub.sessionmaker() as db:
        session = await sessions.for_server(db, conn.server_id, frame.session_id)
        if session is None:
            # Never act on another server's session, whatever id the daemon sends.
            await conn.send_text(
                dump(ErrorFrame(code="unknown_session", message=f"no session {frame.session_id}"))
            )
            return
        if isinstance(frame, SessionOutputFrame):
            start, fresh = recording.fresh_part(
                session.output_offset, b64decode(frame.data), frame.offset
            )
            relay = hub.relays.get(session.id)
            if fresh and relay is not None:
                # Viewers first: storing waits on the database, typing should not. A crash
                # before the commit loses nothing: the daemon resends from the last ack.
                relay.publish(start, fresh)
            redactions = sum(frame.redactions.values()) if frame.redactions else 0
            end = await recording.store(db, session, start, fresh, redactions)
            if conn.protocol >= 2:
                await conn.send_text(dump(SessionOutputAckFrame(session_id=session.id, offset=end)))
            return
        if isinstance(frame, SessionSnapshotFrame):
            relay = hub.relays.get(session.id)
            if relay is not None:
                relay.resolve_snapshot(frame)
            return
        if isinstance(frame, SessionStartedFrame):
            await sessions.mark_running(db, session, frame.pid, frame.tmux_name)
        elif isinstance(frame, SessionErrorFrame):
            await sessions.mark_exited(db, session, None, frame.error)
        elif isinstance(frame, SessionClosedFrame):
            await sessions.mark_exited(db, session, frame.exit_code)
            await _audit(db, session, "session.exited", {"exit_code": frame.exit_code})
        elif isinstance(frame, SessionGapFrame):
            await _audit(
                db, session, "session.output_gap", {"offset": frame.offset, "reason": frame.reason}
            )
            return
        await session_actions.announce(hub, session)
    if isinstance(frame, SessionStartedFrame):
        await fleet.on_capacity(hub, session.project_id)
    elif isinstance(frame, SessionErrorFrame | SessionClosedFrame):
        await fleet.on_sessions_ended(hub, [session.id])


async def _audit(
    db: AsyncSession, session: TerminalSession, action: str, details: dict[str, object]
) -> None:
    await audit.record(
        db,
        audit.Actor("server", session.server_id),
        action,
        tenant_id=session.tenant_id,
        project_id=session.project_id,
        target_type="session",
        target_id=session.id,
        details=dict(details),
    )
    await db.commit()


async def reconcile_hello(conn: DaemonConnection, hub: HubState, hello: HelloFrame) -> None:
    """After (re)connect: ack what we hold for each live session so the daemon resends the rest;
    sessions the daemon no longer has are lost."""
    reported = {s.session_id: s for s in hello.sessions}
    lost = []
    async with hub.sessionmaker() as db:
        for item in hello.sessions:
            session = await sessions.for_server(db, conn.server_id, item.session_id)
            if session is None:
                continue
            await conn.send_text(
                dump(SessionOutputAckFrame(session_id=session.id, offset=session.output_offset))
            )
            if item.alive and session.status != "running":
                await sessions.mark_running(db, session, item.pid, item.tmux_name)
                await session_actions.announce(hub, session)
        for session in await sessions.live_on_server(db, conn.server_id):
            if session.id not in reported and session.status == "running":
                await sessions.mark_lost(db, session)
                await session_actions.announce(hub, session)
                lost.append(session.id)
    if lost:
        await fleet.on_sessions_ended(hub, lost)


async def _legacy_recovered(
    conn: DaemonConnection, hub: HubState, frame: SessionRecoveredFrame
) -> None:
    async with hub.sessionmaker() as db:
        session = await sessions.find_by_tmux_name(db, conn.server_id, frame.tmux_name)
        if session is None:
            log.info("daemon %s recovered unknown tmux session %s", conn.server_id, frame.tmux_name)
            return
        await sessions.mark_running(db, session, frame.pid, frame.tmux_name)
        await session_actions.announce(hub, session)
    ack = SessionRecoveredAckFrame(tmux_name=frame.tmux_name, session_id=session.id)
    await conn.send_text(dump(ack))
