"""Session frames arriving from a daemon: lifecycle, output recording and acks, snapshots."""

from __future__ import annotations

import logging

from orchestratia.hub.actions import sessions as session_actions
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
        session_id = await session_actions.recovered(hub, conn.server_id, frame)
        if session_id is None:
            log.info("daemon %s recovered unknown tmux session %s", conn.server_id, frame.tmux_name)
            return
        ack = SessionRecoveredAckFrame(tmux_name=frame.tmux_name, session_id=session_id)
        await conn.send_text(dump(ack))
    elif isinstance(frame, ScrollbackCapturedFrame):
        hub.scrollbacks.resolve(conn.server_id, frame)
    elif isinstance(frame, SessionOutputFrame | SessionSnapshotFrame):
        await _terminal(conn, hub, frame)
    elif not await session_actions.reported(hub, conn.server_id, frame):
        await _unknown_session(conn, frame.session_id)


async def _terminal(
    conn: DaemonConnection, hub: HubState, frame: SessionOutputFrame | SessionSnapshotFrame
) -> None:
    """The terminal data path: output to the viewers, then into the recording, acked; snapshots
    to the viewers waiting for one. Kept out of the actions: nothing here is told to anyone
    but the session's own viewers, and every frame of output is one small write."""
    async with hub.sessionmaker() as db:
        session = await sessions.for_server(db, conn.server_id, frame.session_id)
        if session is None:
            await _unknown_session(conn, frame.session_id)
            return
        relay = hub.relays.get(session.id)
        if isinstance(frame, SessionSnapshotFrame):
            if relay is not None:
                relay.resolve_snapshot(frame)
            return
        start, fresh = recording.fresh_part(
            session.output_offset, b64decode(frame.data), frame.offset
        )
        if fresh:
            # Viewers first: storing waits on the database, typing should not. A crash
            # before the commit loses nothing: the daemon resends from the last ack.
            if relay is not None:
                relay.publish(start, fresh)
            hub.grid.output(session.project_id, session.id, fresh)
            hub.output_meter.add(session.project_id, len(fresh))  # the overview's sparkline
            hub.metrics.output_relayed(len(fresh))
        redactions = sum(frame.redactions.values()) if frame.redactions else 0
        with hub.metrics.recording_write.time():
            end = await recording.store(db, session, start, fresh, redactions)
    if conn.protocol >= 2:
        await conn.send_text(dump(SessionOutputAckFrame(session_id=session.id, offset=end)))


async def _unknown_session(conn: DaemonConnection, session_id: str) -> None:
    # Never act on another server's session, whatever id the daemon sends.
    error = ErrorFrame(code="unknown_session", message=f"no session {session_id}")
    await conn.send_text(dump(error))


async def reconcile_hello(conn: DaemonConnection, hub: HubState, hello: HelloFrame) -> None:
    """After (re)connect: ack what we hold for each live session so the daemon resends the rest;
    sessions the daemon no longer has are lost."""
    for ack in await session_actions.reconcile(hub, conn.server_id, hello):
        await conn.send_text(dump(ack))
