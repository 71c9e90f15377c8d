"""Session frames arriving from a daemon: lifecycle, output recording and acks, snapshots."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from orchestratia.hub.actions import sessions as session_actions
from orchestratia.hub.services.fleet import recording, sessions
from orchestratia.hub.state import HubState
from orchestratia.hub.ws import daemon_routing
from orchestratia.hub.ws.registry import DaemonConnection, OwnedSession
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
        await daemon_routing.daemon_replied(hub, conn.server_id, frame)
    elif isinstance(frame, SessionOutputFrame):
        data = b64decode(frame.data)
        await output(conn, hub, frame.session_id, frame.offset, data, frame.redactions)
    elif isinstance(frame, SessionSnapshotFrame):
        if await _owned(conn, hub, frame.session_id) is not None:
            await daemon_routing.daemon_replied(hub, conn.server_id, frame)
    elif not await session_actions.reported(hub, conn.server_id, frame):
        await _unknown_session(conn, frame.session_id)


async def output(
    conn: DaemonConnection,
    hub: HubState,
    session_id: str,
    offset: int | None,
    data: bytes | memoryview,
    redactions: Mapping[str, int] | None,
) -> None:
    """The terminal data path: output to the viewers at once, then queued for the next group
    commit, which acks it. Kept out of the actions: nothing here is told to anyone but the
    session's own viewers, and no frame waits for the database (up to the backpressure cap)."""
    owned = await _owned(conn, hub, session_id)
    if owned is None or conn.retired:
        return
    start, fresh = recording.fresh_part(owned.accepted, data, offset)
    count = sum(redactions.values()) if redactions else 0
    if fresh:
        # Viewers first: storing waits on the database, typing should not. A crash before the
        # commit loses nothing: the daemon resends from the last ack.
        relay = hub.relays.get(owned.id)
        if relay is not None:
            relay.publish(start, fresh)
        hub.bus.publish_output(owned.project_id, owned.id, start, fresh)  # other replicas
        hub.grid.output(owned.project_id, owned.id, start, fresh)
        hub.output_meter.add(owned.project_id, len(fresh))  # the overview's sparkline
        hub.output_counted[owned.project_id] += len(fresh)
        hub.metrics.output_relayed(len(fresh))
        owned.accepted = start + len(fresh)
    if fresh or count:
        hub.output_writer.append(conn, owned, start, fresh, count)
        await hub.output_writer.throttle(conn)
    elif conn.protocol >= 2:
        # Nothing new (a resend of what we hold, or a frame past our end): say what is stored.
        ack = SessionOutputAckFrame(session_id=owned.id, offset=owned.durable)
        await conn.send_text(dump(ack))


async def _owned(conn: DaemonConnection, hub: HubState, session_id: str) -> OwnedSession | None:
    """The session if ``conn``'s server owns it, looked up once per connection; else None and
    the daemon is told (never act on another server's session, whatever id it sends)."""
    owned = conn.owned.get(session_id)
    if owned is not None:
        return owned
    async with hub.sessionmaker() as db:
        session = await sessions.for_server(db, conn.server_id, session_id)
    if session is None:
        await _unknown_session(conn, session_id)
        return None
    end = session.output_offset
    owned = OwnedSession(session.id, session.tenant_id, session.project_id, end, end)
    conn.owned[session_id] = owned  # under the id looked up by, or every frame would reload it
    return owned


async def _unknown_session(conn: DaemonConnection, session_id: str) -> None:
    # Never act on another server's session, whatever id the daemon sends.
    error = ErrorFrame(code="unknown_session", message=f"no session {session_id}")
    await conn.send_text(dump(error))


async def reconcile_hello(conn: DaemonConnection, hub: HubState, hello: HelloFrame) -> bool:
    """After (re)connect: ack what we hold for each live session so the daemon resends the rest;
    sessions the daemon no longer has are lost. True when the server has a live session left."""
    acks, live_left = await session_actions.reconcile(hub, conn.server_id, hello)
    for ack in acks:
        await conn.send_text(dump(ack))
    return live_left
