"""Glue between a session's relay, its recording and its daemon's connection."""

from __future__ import annotations

from pydantic import BaseModel

from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.services.fleet import recording
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.terminal_relay import SessionRelay, SessionView, SnapshotRoute
from orchestratia.protocol.base import dump
from orchestratia.protocol.sessions import SnapshotRequestFrame


async def send_to_daemon(hub: HubState, server_id: str, frame: BaseModel) -> bool:
    """Send a frame to the server's daemon if it is connected to this hub; False otherwise."""
    conn = hub.registry.get(server_id)
    if conn is None:
        return False
    await conn.send_text(dump(frame))
    return True


def relay_for(hub: HubState, session: TerminalSession) -> SessionRelay:
    session_id, server_id = session.id, session.server_id

    async def read(offset: int, limit: int) -> tuple[int, bytes]:
        async with hub.sessionmaker() as db:
            return await recording.read(db, session_id, offset, limit)

    async def request_snapshot(request_id: str) -> SnapshotRoute:
        conn = hub.registry.get(server_id)
        if conn is None:
            return SnapshotRoute.NONE
        if conn.protocol < 2:  # the public agent has no snapshot_request
            return SnapshotRoute.HUB
        await conn.send_text(
            dump(SnapshotRequestFrame(session_id=session_id, request_id=request_id))
        )
        return SnapshotRoute.DAEMON

    view = SessionView(session.status, session.exit_code, session.cols, session.rows)
    # The output taken in so far, stored or still in the open group commit.
    conn = hub.registry.get(server_id)
    owned = conn.owned.get(session_id) if conn is not None else None
    end = owned.accepted if owned is not None else session.output_offset
    return hub.relays.ensure(
        session_id, lambda: SessionRelay(session_id, end, view, read, request_snapshot)
    )
