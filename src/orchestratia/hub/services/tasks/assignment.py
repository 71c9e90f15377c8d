"""Auto-assignment (SPEC §4): pending, unblocked tasks of a project that enables it are given to
the best free worker session on an online server. Scoring is ``assignment_scoring``; this module
gathers the candidates and records each decision (winner or not) on the task for the UI."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Project, Server, TerminalSession
from orchestratia.hub.db.task_models import Task
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks.assignment_scoring import Candidate, TaskProfile, decide
from orchestratia.hub.services.tasks.context import add_event, system_caller
from orchestratia.hub.services.tasks.dependencies import unresolved_blockers
from orchestratia.hub.services.tasks.flow import assign
from orchestratia.protocol.tasks import ACTIVE_STATUSES

PRIORITY_ORDER = {"critical": 0, "high": 1, "normal": 2, "low": 3}


def profile(task: Task) -> TaskProfile:
    constraints = (task.structured_spec or {}).get("constraints") or {}
    agent = constraints.get("agent_type")
    return TaskProfile(
        target_repo=task.target_repo,
        languages=tuple(constraints.get("languages") or ()),
        frameworks=tuple(constraints.get("frameworks") or ()),
        labels=tuple(task.labels or ()),
        agent_type=agent,
        os=constraints.get("os"),
        preferred_agent=agent,
    )


async def candidates(db: AsyncSession, project_id: str, connected: set[str]) -> list[Candidate]:
    """Live worker sessions on connected servers that hold no active task."""
    rows = await db.execute(
        select(TerminalSession, Server)
        .join(Server, Server.id == TerminalSession.server_id)
        .where(
            TerminalSession.project_id == project_id,
            TerminalSession.status == "running",
            TerminalSession.role == "worker",
        )
    )
    busy_rows = await db.execute(
        select(Task.assigned_session_id, func.max(Task.completed_at))
        .where(Task.project_id == project_id, Task.assigned_session_id.is_not(None))
        .group_by(Task.assigned_session_id)
    )
    last_done: dict[str, datetime | None] = {sid: at for sid, at in busy_rows if sid}
    active_rows = await db.execute(
        select(Task.assigned_session_id, func.count())
        .where(Task.project_id == project_id, Task.status.in_(ACTIVE_STATUSES))
        .group_by(Task.assigned_session_id)
    )
    active = {sid: n for sid, n in active_rows if sid}
    per_server: dict[str, int] = {}
    pairs = list(rows)
    for session, _server in pairs:
        per_server[session.server_id] = per_server.get(session.server_id, 0) + active.get(
            session.id, 0
        )
    now = utcnow()
    out = []
    for session, server in pairs:
        if server.id not in connected or active.get(session.id):
            continue
        since = last_done.get(session.id) or session.started_at or session.created_at
        out.append(
            Candidate(
                session_id=session.id,
                session_name=session.name,
                server_id=server.id,
                server_name=server.name,
                server_os=server.os or "",
                agent_type=session.agent_type,
                repos=dict(server.repos or {}),
                labels=tuple(server.labels or ()),
                capabilities=tuple(server.capabilities or ()),
                system_info=dict(server.system_info or {}),
                running_tasks=per_server.get(server.id, 0),
                idle_seconds=max(0.0, (now - since).total_seconds()),
            )
        )
    return out


async def run(
    db: AsyncSession,
    project_id: str,
    connected: set[str],
    outbox: Outbox,
    *,
    task_id: str | None = None,
) -> int:
    """One pass over the project's waiting tasks (or just ``task_id``, which a user asked to
    place even where the project does not auto-assign); returns how many were assigned."""
    project = await db.get(Project, project_id)
    if project is None or not (project.auto_assign or task_id):
        return 0
    if project.assignment_paused_at is not None:
        return 0  # stop all agents: nothing is placed until an owner resumes
    stmt = select(Task).where(
        Task.project_id == project_id,
        Task.status == "pending",
        Task.assigned_session_id.is_(None),
        Task.approval_status != "pending",
    )
    if task_id:
        stmt = stmt.where(Task.id == task_id)
    waiting = list(await db.scalars(stmt))
    if not waiting:
        return 0  # the usual case when a daemon (re)connects: no need to look at the sessions
    waiting.sort(key=lambda t: (PRIORITY_ORDER.get(t.priority, 9), t.created_at))
    pool = await candidates(db, project_id, connected)
    assigned = 0
    for task in waiting:
        if await unresolved_blockers(db, task):
            continue
        decision = decide(profile(task), pool)
        reason = decision.as_reason()
        if decision.winner is None:
            # Scores drift with load and idle time; only a new verdict is worth a timeline entry.
            if (task.assignment_reason or {}).get("summary") != reason["summary"]:
                add_event(db, outbox, task, "auto_assign", "auto-assign", reason["summary"])
            task.assignment_reason = reason
            continue
        session = await db.get(TerminalSession, decision.winner.candidate.session_id)
        assert session is not None
        await assign(db, system_caller(task.tenant_id), task, session, outbox, reason=reason)
        pool = [c for c in pool if c.session_id != session.id]
        assigned += 1
    return assigned
