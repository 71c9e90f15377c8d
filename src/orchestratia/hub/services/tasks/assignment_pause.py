"""Paused auto-assignment (stop all agents, SPEC §4): while ``projects.assignment_paused_at``
is set no task of the project is placed automatically, and agents may not hand tasks to
sessions either; a person still assigns by hand, which is how work restarts selectively after
an incident. Who paused and why is read back from the audit row the pause wrote."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import AuditEvent, Project, TerminalSession
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Conflict, Forbidden
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.plans import LIVE_SESSION
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.outbox import Outbox
from orchestratia.protocol.dashboard_events import AssignmentPauseUpdate
from orchestratia.protocol.stop_all import AssignmentPause

PAUSED = "project.assignment_paused"
RESUMED = "project.assignment_resumed"


async def targets(db: AsyncSession, principal: Principal, project_id: str | None) -> list[Project]:
    """The projects a stop or resume acts on: one the caller owns, or (``None``) every project
    of the tenant, which only a tenant admin acting tenant-wide may touch."""
    if project_id is None:
        if not principal.tenant_wide_admin:
            raise Forbidden(
                "only tenant admins (with a key not tied to one project) act tenant-wide"
            )
        rows = await db.scalars(
            select(Project).where(Project.tenant_id == principal.tenant_id).order_by(Project.name)
        )
        return list(rows)
    acc = await access(db, principal, project_id, write=True)
    if acc.role != "owner":
        raise Forbidden("only project owners stop or resume all agents")
    return [acc.project]


async def state(db: AsyncSession, project: Project) -> AssignmentPause:
    if project.assignment_paused_at is None:
        return AssignmentPause(project_id=project.id, paused_at=None)
    row = await db.scalar(
        select(AuditEvent)
        .where(AuditEvent.project_id == project.id, AuditEvent.action == PAUSED)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    details = row.details if row is not None else {}
    return AssignmentPause(
        project_id=project.id,
        paused_at=project.assignment_paused_at,
        paused_by=details.get("by"),
        reason=details.get("reason"),
    )


async def pause(
    db: AsyncSession,
    principal: Principal,
    projects: Sequence[Project],
    reason: str | None,
    actor: audit.Actor,
    outbox: Outbox,
) -> list[AssignmentPause]:
    """Pause each project (a paused one keeps its first pause time) and tell its dashboards."""
    out = []
    for project in projects:
        if project.assignment_paused_at is None:
            project.assignment_paused_at = utcnow()
            await audit.record(
                db,
                actor,
                PAUSED,
                tenant_id=principal.tenant_id,
                project_id=project.id,
                target_type="project",
                target_id=project.id,
                details={"by": principal.email, "reason": reason},
            )
        current = await state(db, project)
        outbox.notify(project.id, AssignmentPauseUpdate(pause=current))
        out.append(current)
    return out


async def resume(
    db: AsyncSession,
    principal: Principal,
    projects: Sequence[Project],
    actor: audit.Actor,
    outbox: Outbox,
) -> list[AssignmentPause]:
    """Clear each project's pause; auto-assigning projects get a placement pass at once."""
    out = []
    for project in projects:
        if project.assignment_paused_at is not None:
            await audit.record(
                db,
                actor,
                RESUMED,
                tenant_id=principal.tenant_id,
                project_id=project.id,
                target_type="project",
                target_id=project.id,
                details={
                    "by": principal.email,
                    "paused_at": project.assignment_paused_at.isoformat(),
                },
            )
            project.assignment_paused_at = None
            if project.auto_assign:
                outbox.auto_assign.add(project.id)
        current = AssignmentPause(project_id=project.id, paused_at=None)
        outbox.notify(project.id, AssignmentPauseUpdate(pause=current))
        out.append(current)
    return out


async def live_sessions(db: AsyncSession, projects: Sequence[Project]) -> list[TerminalSession]:
    rows = await db.scalars(
        select(TerminalSession).where(
            TerminalSession.project_id.in_([p.id for p in projects]),
            TerminalSession.status.in_(LIVE_SESSION),
        )
    )
    return list(rows)


async def outlived_a_stop(db: AsyncSession, session: TerminalSession) -> bool:
    """True for a session its daemon reports alive that was already live when its project was
    stopped and paused, and the pause still holds: the stop could not reach it then (its server
    was offline), so it is killed now. Sessions started after the pause are left alone."""
    project = await db.get(Project, session.project_id)
    paused_at = project.assignment_paused_at if project is not None else None
    return paused_at is not None and session.created_at <= paused_at


async def ensure_unpaused(db: AsyncSession, project_id: str, what: str) -> None:
    """Refuse ``what`` (an automatic placement someone asked for) while the project is paused."""
    project = await db.get(Project, project_id)
    if project is not None and project.assignment_paused_at is not None:
        raise Conflict(
            f"auto-assignment of this project is paused since "
            f"{project.assignment_paused_at:%Y-%m-%d %H:%M} UTC; {what} waits until a project "
            "owner resumes it (a person can still assign a task to a session by hand)"
        )
