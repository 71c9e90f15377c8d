"""Terminal sessions: creation with plan limits, lifecycle transitions reported by daemons."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, NotFound, Unauthorized
from orchestratia.hub.security import new_secret, sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.plans import LIVE_SESSION, ensure_room
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.fleet.servers import get as get_server
from orchestratia.hub.services.integrations import announcements
from orchestratia.protocol.dashboard_events import SessionUpdate
from orchestratia.protocol.rest import SessionCreate, SessionPublic
from orchestratia.protocol.tokens import TokenKind

LIVE = LIVE_SESSION


@dataclass(frozen=True)
class Created:
    session: TerminalSession
    token: str


def to_public(s: TerminalSession) -> SessionPublic:
    return SessionPublic.model_validate(s, from_attributes=True)


def session_event(s: TerminalSession) -> SessionUpdate:
    return SessionUpdate(session=to_public(s))


async def authenticate_token(db: AsyncSession, token: str) -> tuple[TerminalSession, Server | None]:
    """The live session a session token (``X-API-Key``) belongs to, and its server."""
    session = await db.scalar(
        select(TerminalSession).where(TerminalSession.token_hash == sha256_hex(token))
    )
    if session is None or session.status not in LIVE:
        raise Unauthorized("invalid or expired session token")
    return session, await db.get(Server, session.server_id)


async def with_servers(
    db: AsyncSession, session_ids: Collection[str]
) -> tuple[dict[str, TerminalSession], dict[str, Server]]:
    """The sessions with these ids and the servers they run on, each by id: what lists that
    name a task's or an inbox item's session and server look names up in."""
    sessions: dict[str, TerminalSession] = {}
    servers: dict[str, Server] = {}
    if session_ids:
        query = select(TerminalSession).where(TerminalSession.id.in_(session_ids))
        sessions = {s.id: s for s in await db.scalars(query)}
        server_ids = {s.server_id for s in sessions.values()}
        servers = {
            s.id: s for s in await db.scalars(select(Server).where(Server.id.in_(server_ids)))
        }
    return sessions, servers


async def get_server_for(db: AsyncSession, principal: Principal, server_id: str) -> Server:
    """The server a new session would run on, with write access checked."""
    return await get_server(db, principal, server_id, write=True)


async def create(
    db: AsyncSession, principal: Principal, body: SessionCreate, actor: audit.Actor
) -> tuple[Created, Server]:
    server = await get_server_for(db, principal, body.server_id)
    await ensure_room(db, principal.tenant_id, "concurrent_sessions")
    taken = await db.scalar(
        select(TerminalSession.id).where(
            TerminalSession.project_id == server.project_id,
            TerminalSession.name == body.name,
            TerminalSession.status.in_(LIVE),
        )
    )
    if taken:
        raise Conflict(f"a live session named {body.name!r} already exists in this project")
    token = new_secret(TokenKind.SESSION)
    session = TerminalSession(
        tenant_id=principal.tenant_id,
        project_id=server.project_id,
        server_id=server.id,
        name=body.name,
        working_directory=body.working_directory,
        command=body.command,
        agent_type=body.agent_type,
        role=body.role,
        cols=body.cols,
        rows=body.rows,
        created_by=principal.user_id,
        token_hash=sha256_hex(token),
        status="starting",
        output_offset=0,
        redactions=0,
    )
    db.add(session)
    await db.flush()
    await audit.record(
        db,
        actor,
        "session.started",
        tenant_id=principal.tenant_id,
        project_id=server.project_id,
        target_type="session",
        target_id=session.id,
        details={"server_id": server.id, "name": body.name, "command": body.command},
    )
    return Created(session, token), server


async def get(
    db: AsyncSession, principal: Principal, session_id: str, *, write: bool = False
) -> TerminalSession:
    session = await db.scalar(
        select(TerminalSession).where(
            TerminalSession.id == session_id, TerminalSession.tenant_id == principal.tenant_id
        )
    )
    if session is None:
        raise NotFound("session not found")
    try:
        await access(db, principal, session.project_id, write=write)
    except NotFound:
        raise NotFound("session not found") from None
    return session


async def list_for_project(
    db: AsyncSession, principal: Principal, project_id: str
) -> list[TerminalSession]:
    await access(db, principal, project_id)
    rows = await db.scalars(
        select(TerminalSession)
        .where(
            TerminalSession.project_id == project_id,
            TerminalSession.tenant_id == principal.tenant_id,
        )
        .order_by(TerminalSession.created_at.desc())
    )
    return list(rows)


async def record_end(
    db: AsyncSession,
    principal: Principal,
    session: TerminalSession,
    action: str,
    actor: audit.Actor,
) -> None:
    await audit.record(
        db,
        actor,
        action,
        tenant_id=principal.tenant_id,
        project_id=session.project_id,
        target_type="session",
        target_id=session.id,
    )


async def for_server(db: AsyncSession, server_id: str, session_id: str) -> TerminalSession | None:
    """A session as seen from its daemon: only that server's own sessions are visible to it."""
    return await db.scalar(
        select(TerminalSession).where(
            TerminalSession.id == session_id, TerminalSession.server_id == server_id
        )
    )


def mark_running(
    db: AsyncSession, session: TerminalSession, pid: int | None, tmux_name: str | None
) -> None:
    """The daemon runs ``session``; ``session.started`` when it was not running before (its
    first start, or a session given up on that turned out alive)."""
    was = session.status
    if session.status in ("exited", "lost") and session.ended_at is not None:
        # A recovered session that we had given up on is alive after all.
        session.ended_at = None
    session.status = "running"
    session.pid = pid if pid is not None else session.pid
    session.tmux_name = tmux_name or session.tmux_name
    session.started_at = session.started_at or utcnow()
    if was != "running":
        announcements.session_started(db, session)


async def mark_exited(
    db: AsyncSession, session: TerminalSession, exit_code: int | None, error: str | None = None
) -> None:
    was = session.status
    session.status = "exited"
    session.exit_code = exit_code
    session.error = error
    session.ended_at = utcnow()
    if was in LIVE:
        await announcements.session_closed(db, session)


async def mark_lost(
    db: AsyncSession, session: TerminalSession, error: str | None = None, at: datetime | None = None
) -> None:
    was = session.status
    session.status = "lost"
    session.ended_at = at or utcnow()
    session.error = error or session.error
    if was in LIVE:
        await announcements.session_closed(db, session)


async def lose_abandoned(
    db: AsyncSession, now: datetime, cutoff: datetime, live: set[str]
) -> list[TerminalSession]:
    """Mark lost the live sessions of servers disconnected since before ``cutoff`` (and with no
    socket on this hub); returns them. A daemon that comes back later and still has a session
    revives it (``mark_running``), but the tasks it held were released meanwhile."""
    rows = await db.scalars(
        select(TerminalSession)
        .join(Server, Server.id == TerminalSession.server_id)
        .where(
            TerminalSession.status.in_(LIVE),
            Server.status == "disconnected",
            # Servers that went away before the hub recorded when: their last sign of life.
            func.coalesce(Server.disconnected_at, Server.last_seen_at) < cutoff,
        )
    )
    # ``live`` is filtered here, not in SQL: as NOT IN it would bind one parameter per connected
    # daemon (thousands) in a query run every second, for the few rows it can exclude.
    lost = [session for session in rows if session.server_id not in live]
    for session in lost:
        await mark_lost(db, session, "its server stayed disconnected", now)
    return lost


async def live_on_server(db: AsyncSession, server_id: str) -> list[TerminalSession]:
    rows = await db.scalars(
        select(TerminalSession).where(
            TerminalSession.server_id == server_id, TerminalSession.status.in_(LIVE)
        )
    )
    return list(rows)


async def find_by_tmux_name(
    db: AsyncSession, server_id: str, tmux_name: str
) -> TerminalSession | None:
    """Legacy recovery: the public agent names tmux sessions ``orc-<first 12 chars of id>``."""
    exact = await db.scalar(
        select(TerminalSession).where(
            TerminalSession.server_id == server_id, TerminalSession.tmux_name == tmux_name
        )
    )
    if exact is not None or not tmux_name.startswith("orc-"):
        return exact
    prefix = tmux_name[len("orc-") :]
    return await db.scalar(
        select(TerminalSession).where(
            TerminalSession.server_id == server_id,
            TerminalSession.id.startswith(prefix, autoescape=True),
        )
    )
