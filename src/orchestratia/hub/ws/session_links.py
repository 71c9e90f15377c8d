"""Glue between a session's relay, its recording and its daemon's connection, wherever that
connection is: on this replica the relay is fed by the daemon's frames directly; on another it
follows the session's output over the bus and repairs what the bus lost from the recording."""

from __future__ import annotations

import logging

from orchestratia.hub.bus import Following, OutputHandler
from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.services.fleet import recording
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.daemon_routing import send_to_daemon
from orchestratia.hub.ws.terminal_relay import SessionRelay, SessionView, SnapshotRoute
from orchestratia.protocol.cluster import DriverChanged, OutputMessage
from orchestratia.protocol.sessions import SnapshotRequestFrame

log = logging.getLogger(__name__)


def relay_for(hub: HubState, session: TerminalSession) -> SessionRelay:
    session_id, server_id = session.id, session.server_id

    async def read(offset: int, limit: int) -> tuple[int, bytes]:
        async with hub.sessionmaker() as db:
            return await recording.read(db, session_id, offset, limit)

    async def request_snapshot(request_id: str) -> SnapshotRoute:
        holder = await hub.bus.holder(server_id)
        if holder is None:
            return SnapshotRoute.NONE
        if holder.protocol < 2:  # the public agent has no snapshot_request
            return SnapshotRoute.HUB
        frame = SnapshotRequestFrame(session_id=session_id, request_id=request_id)
        sent = await send_to_daemon(hub, server_id, frame)
        return SnapshotRoute.DAEMON if sent else SnapshotRoute.NONE

    def driver_changed(driver: str | None) -> None:
        hub.spawn(
            hub.bus.broadcast(
                DriverChanged(origin=hub.replica_id, session_id=session_id, driver=driver)
            )
        )

    def build() -> SessionRelay:
        view = SessionView(session.status, session.exit_code, session.cols, session.rows)
        # The output taken in so far, stored or still in the open group commit.
        conn = hub.registry.get(server_id)
        owned = conn.owned.get(session_id) if conn is not None else None
        end = owned.accepted if owned is not None else session.output_offset
        relay = SessionRelay(session_id, end, view, read, request_snapshot)
        if hub.bus.shared:
            relay.on_driver = driver_changed
            relay.following = Following(session.project_id, session_id, _feed(relay))
            hub.bus.follow_output(relay.following)
        return relay

    return hub.relays.ensure(session_id, build)


def _feed(relay: SessionRelay) -> OutputHandler:
    def fed(_project_id: str, _session_id: str, output: OutputMessage) -> None:
        relay.publish(output.offset, output.data)

    return fed


def release_relay(hub: HubState, session: TerminalSession) -> None:
    """A viewer left: a relay nobody watches stops following the session on a replica that does
    not hold its daemon (the one that does keeps its ring for the next viewer's quick start)."""
    session_id = session.id
    relay = hub.relays.get(session_id)
    if relay is None or relay.viewers:
        return
    if relay.following is not None and hub.registry.get(session.server_id) is None:
        hub.bus.unfollow_output(relay.following)
        hub.relays.drop(session_id)
    else:
        hub.relays.discard_if_idle(session_id)


async def repair_followed(hub: HubState) -> None:
    """Relays following a session held elsewhere catch up with what the recording holds beyond
    their end (output the bus lost, or published before this replica subscribed)."""
    for relay in hub.relays.following():
        async with hub.sessionmaker() as db:
            stored = await recording.stored_end(db, relay.session_id)
            end = relay.end
            while stored is not None and end < stored:
                start, data = await recording.read(db, relay.session_id, end, stored - end)
                if not data:
                    break
                relay.publish(start, data)
                end = start + len(data)
