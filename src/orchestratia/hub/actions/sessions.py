"""Terminal sessions: starting and ending them, what their daemon reports, share-link revocation."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions import fleet, stop_all
from orchestratia.hub.actions.transaction import run, run_detached
from orchestratia.hub.db.models import ShareLink, TerminalSession
from orchestratia.hub.errors import Conflict
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import share_links
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet import sessions
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import assignment_pause
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.daemon_routing import send_to_daemon
from orchestratia.protocol.frames import HelloFrame
from orchestratia.protocol.rest import SessionCreate
from orchestratia.protocol.revocations import ShareLinkRevoked
from orchestratia.protocol.sessions import (
    SessionClosedFrame,
    SessionCloseFrame,
    SessionErrorFrame,
    SessionGapFrame,
    SessionKillFrame,
    SessionOutputAckFrame,
    SessionRecoveredFrame,
    SessionStartedFrame,
    SessionStartFrame,
)

# What a daemon reports of a session's life, as opposed to its output.
LifecycleFrame = SessionStartedFrame | SessionErrorFrame | SessionClosedFrame | SessionGapFrame


async def start(
    db: AsyncSession, hub: HubState, principal: Principal, body: SessionCreate, actor: audit.Actor
) -> TerminalSession:
    """Create the session and ask its daemon to start it; a daemon gone meanwhile leaves it
    exited."""
    if await hub.bus.holder(body.server_id) is None:
        # Checked again below after access control; this early exit avoids minting a token.
        await sessions.get_server_for(db, principal, body.server_id)
        raise Conflict("server is not connected; start its daemon first")
    created, server = await run(db, hub, lambda _: sessions.create(db, principal, body, actor))
    s = created.session
    frame = SessionStartFrame(
        session_id=s.id,
        name=s.name,
        working_directory=s.working_directory,
        command=s.command,
        cols=s.cols,
        rows=s.rows,
        project_id=s.project_id,
        agent_type=s.agent_type,
        role=s.role,
        session_token=created.token,
    )
    # Sent once the row is committed: the daemon's answer may arrive before this returns.
    sent = await send_to_daemon(hub, server.id, frame)

    async def told(outbox: Outbox) -> None:
        if not sent:
            await sessions.mark_exited(
                db, s, None, "server disconnected before the session started"
            )
        outbox.sessions.append(s)

    await run(db, hub, told)
    return s


async def end(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    session_id: str,
    actor: audit.Actor,
    *,
    kill: bool,
) -> None:
    """Ask the daemon to close (or kill) a live session; its exit arrives from the daemon."""

    async def work(_: Outbox) -> None:
        s = await sessions.get(db, principal, session_id, write=True)
        if s.status not in sessions.LIVE:
            raise Conflict(f"session is {s.status}")
        frame = SessionKillFrame(session_id=s.id) if kill else SessionCloseFrame(session_id=s.id)
        # Asked before the commit on purpose: only a request that reached the daemon is recorded.
        if not await send_to_daemon(hub, s.server_id, frame):
            raise Conflict("server is not connected")
        await sessions.record_end(
            db, principal, s, "session.killed" if kill else "session.closed", actor
        )

    await run(db, hub, work)


async def share(
    db: AsyncSession,
    hub: HubState,
    principal: Principal,
    session_id: str,
    mode: str,
    hours: int,
    actor: audit.Actor,
) -> tuple[ShareLink, str]:
    """A read-only link to the session's view; returns it with its secret (shown once)."""
    return await run(
        db, hub, lambda _: share_links.create(db, principal, session_id, mode, hours, actor)
    )


async def revoke_share(
    db: AsyncSession, hub: HubState, principal: Principal, link_id: str, actor: audit.Actor
) -> None:
    """Revoke a share link; its open viewer sockets, on every replica, close."""

    async def work(outbox: Outbox) -> None:
        link = await share_links.revoke(db, principal, link_id, actor)
        outbox.revocations.append(ShareLinkRevoked(token_hash=link.token_hash))

    await run(db, hub, work)


async def reported(hub: HubState, server_id: str, frame: LifecycleFrame) -> bool:
    """Apply what a daemon reports of one of its own sessions: started, failed to start, closed
    or a gap in its output. False if the session is not that server's."""

    async def work(db: AsyncSession, outbox: Outbox) -> TerminalSession | None:
        session = await sessions.for_server(db, server_id, frame.session_id)
        if session is None:
            return None
        if isinstance(frame, SessionGapFrame):
            details = {"offset": frame.offset, "reason": frame.reason}
            await _audit(db, session, "session.output_gap", details)
            return session
        if isinstance(frame, SessionStartedFrame):
            sessions.mark_running(db, session, frame.pid, frame.tmux_name)
            outbox.auto_assign.add(session.project_id)  # a free session: tasks may find a home
        elif isinstance(frame, SessionErrorFrame):
            await sessions.mark_exited(db, session, None, frame.error)
        else:
            await sessions.mark_exited(db, session, frame.exit_code)
            await _audit(db, session, "session.exited", {"exit_code": frame.exit_code})
        outbox.sessions.append(session)
        return session

    session = await run_detached(hub, work)
    if session is None:
        return False
    if isinstance(frame, SessionErrorFrame | SessionClosedFrame):
        await fleet.on_sessions_ended(hub, [session.id])
    return True


async def reconcile(
    hub: HubState, server_id: str, hello: HelloFrame
) -> tuple[list[SessionOutputAckFrame], bool]:
    """After a daemon (re)connects: sessions it still runs are running, the ones it no longer
    has are lost (their tasks released). Returns the acks that tell it what we hold of each, so
    it resends the rest, and whether the server has a live session left (deliveries only go to
    live sessions: without one there is nothing pending to resend)."""
    reported_ids = {s.session_id for s in hello.sessions}
    live_left = False

    async def work(
        db: AsyncSession, outbox: Outbox
    ) -> tuple[list[SessionOutputAckFrame], list[str], list[TerminalSession]]:
        nonlocal live_left
        acks, lost, stopped = [], [], []
        for item in hello.sessions:
            session = await sessions.for_server(db, server_id, item.session_id)
            if session is None:
                continue
            acks.append(SessionOutputAckFrame(session_id=session.id, offset=session.output_offset))
            if item.alive and session.status != "running":
                sessions.mark_running(db, session, item.pid, item.tmux_name)
                outbox.sessions.append(session)
            if item.alive and await assignment_pause.outlived_a_stop(db, session):
                stopped.append(session)
        live = await sessions.live_on_server(db, server_id)
        for session in live:
            if session.id not in reported_ids and session.status == "running":
                await sessions.mark_lost(db, session)
                outbox.sessions.append(session)
                lost.append(session.id)
        live_left = len(live) > len(lost)
        return acks, lost, stopped

    acks, lost, stopped = await run_detached(hub, work)
    if lost:
        await fleet.on_sessions_ended(hub, lost)
    if stopped:
        await stop_all.kill_on_reconnect(hub, stopped)
    return acks, live_left


async def recovered(hub: HubState, server_id: str, frame: SessionRecoveredFrame) -> str | None:
    """A public daemon found one of its tmux sessions again after a restart: it is running.
    Returns the session's id, or None if the hub knows no such session of that server."""

    async def work(db: AsyncSession, outbox: Outbox) -> str | None:
        session = await sessions.find_by_tmux_name(db, server_id, frame.tmux_name)
        if session is None:
            return None
        sessions.mark_running(db, session, frame.pid, frame.tmux_name)
        outbox.sessions.append(session)
        return session.id

    return await run_detached(hub, work)


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
