"""What the agent API tells a calling agent about itself and its project (``/status``,
``/servers``, ``/sessions``): servers and live sessions in brief, and the caller's identity with
its active tasks."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.fleet_models import SERVER_REMOVED
from orchestratia.hub.db.models import Project, Server, TerminalSession
from orchestratia.hub.services.fleet import servers
from orchestratia.hub.services.tasks import records as tasks
from orchestratia.hub.services.tasks import views as task_views
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.hub.services.tasks.flow import LIVE_SESSION
from orchestratia.protocol.agent_status import (
    AgentStatus,
    ProjectRef,
    ServerBrief,
    SessionBrief,
    TaskSummary,
)

UNDER_WAY = frozenset({"running", "needs_human"})


async def with_session(db: AsyncSession, caller: Caller, session_id: str | None) -> Caller:
    """A server key may name the session it acts for; only a session on its own server."""
    if caller.session is not None or not session_id or caller.server is None:
        return caller
    session = await db.scalar(
        select(TerminalSession).where(
            TerminalSession.id == session_id, TerminalSession.server_id == caller.server.id
        )
    )
    return dataclasses.replace(caller, session=session) if session is not None else caller


def server_brief(s: Server) -> ServerBrief:
    public = servers.to_public(s)
    return ServerBrief(
        id=s.id,
        name=s.name,
        hostname=s.hostname,
        os=s.os,
        status=public.status,
        last_heartbeat=public.last_seen.isoformat() if public.last_seen else None,
        repos=dict(s.repos or {}),
        labels=list(s.labels or []),
        capabilities=list(s.capabilities or []),
    )


def session_brief(s: TerminalSession, server: Server) -> SessionBrief:
    return SessionBrief(
        id=s.id,
        name=s.name,
        server_id=s.server_id,
        server_name=server.name,
        status=s.status,
        working_directory=s.working_directory,
        role=s.role,
        agent_type=s.agent_type,
    )


async def project_servers(db: AsyncSession, project_id: str) -> list[ServerBrief]:
    rows = await db.scalars(
        select(Server)
        .where(Server.project_id == project_id, Server.status != SERVER_REMOVED)
        .order_by(Server.name)
    )
    return [server_brief(s) for s in rows]


async def live_sessions(db: AsyncSession, project_id: str) -> list[SessionBrief]:
    rows = await db.execute(
        select(TerminalSession, Server)
        .join(Server, Server.id == TerminalSession.server_id)
        .where(TerminalSession.project_id == project_id, TerminalSession.status.in_(LIVE_SESSION))
        .order_by(TerminalSession.name)
    )
    return [session_brief(s, srv) for s, srv in rows]


async def status(db: AsyncSession, caller: Caller) -> AgentStatus:
    project = await db.get(Project, caller.agent_project_id or "")
    session, server = caller.session, caller.server
    active = await task_views.render(
        db, await tasks.check(db, caller, None) if session is not None else []
    )
    running = sum(t.status in UNDER_WAY for t in active)
    return AgentStatus(
        server_id=server.id if server else None,
        server_name=server.name if server else None,
        session_id=session.id if session else None,
        session_name=session.name if session else None,
        project_id=project.id if project else None,
        project_name=project.name if project else None,
        role=session.role if session else None,
        task_summary=TaskSummary(pending=len(active) - running, running=running, total=len(active)),
        tasks=active,
        session=session_brief(session, server) if session and server else None,
        project=ProjectRef(id=project.id, name=project.name) if project else None,
        server=server_brief(server) if server else None,
    )
