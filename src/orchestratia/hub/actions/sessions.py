"""Terminal sessions: starting and ending them, what their daemon reports, share-link revocation."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.effects import after_commit
from orchestratia.hub.actions.transaction import run
from orchestratia.hub.db.models import TerminalSession
from orchestratia.hub.errors import Conflict
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import share_links
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet import sessions
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.state import HubState
from orchestratia.hub.ws.session_links import send_to_daemon
from orchestratia.protocol.rest import SessionCreate
from orchestratia.protocol.revocations import ShareLinkRevoked
from orchestratia.protocol.sessions import SessionCloseFrame, SessionKillFrame, SessionStartFrame


async def announce(hub: HubState, session: TerminalSession) -> None:
    """Tell dashboards and the session's viewers its state, just committed."""
    await after_commit(hub, Outbox(sessions=[session]))


async def start(
    db: AsyncSession, hub: HubState, principal: Principal, body: SessionCreate, actor: audit.Actor
) -> TerminalSession:
    """Create the session and ask its daemon to start it; a daemon gone meanwhile leaves it
    exited."""
    if hub.registry.get(body.server_id) is None:
        # Checked again below after access control; this early exit avoids minting a token.
        await sessions.get_server_for(db, principal, body.server_id)
        raise Conflict("server is not connected; start its daemon first")
    created, server = await sessions.create(db, principal, body, actor)
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
    if not await send_to_daemon(hub, server.id, frame):
        await sessions.mark_exited(db, s, None, "server disconnected before the session started")
    await announce(hub, s)
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
    s = await sessions.get(db, principal, session_id, write=True)
    if s.status not in sessions.LIVE:
        raise Conflict(f"session is {s.status}")
    frame = SessionKillFrame(session_id=s.id) if kill else SessionCloseFrame(session_id=s.id)
    if not await send_to_daemon(hub, s.server_id, frame):
        raise Conflict("server is not connected")
    await sessions.record_end(
        db, principal, s, "session.killed" if kill else "session.closed", actor
    )


async def revoke_share(
    db: AsyncSession, hub: HubState, principal: Principal, link_id: str, actor: audit.Actor
) -> None:
    """Revoke a share link; its open viewer sockets, on every replica, close."""

    async def work(outbox: Outbox) -> None:
        link = await share_links.revoke(db, principal, link_id, actor)
        outbox.revocations.append(ShareLinkRevoked(token_hash=link.token_hash))

    await run(db, hub, work)
