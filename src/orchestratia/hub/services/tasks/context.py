"""Who is acting on tasks (``Caller``) and the task timeline entries their changes leave."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Project, Server, TerminalSession
from orchestratia.hub.db.task_models import Task, TaskEvent
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Forbidden, NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import access, list_for
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks.states import Trigger


@dataclass(frozen=True)
class Caller:
    """A user (dashboard / External API) or an agent (a session token or a server key)."""

    tenant_id: str
    kind: Trigger
    name: str
    actor: audit.Actor
    principal: Principal | None = None
    server: Server | None = None
    session: TerminalSession | None = None

    @property
    def is_agent(self) -> bool:
        return self.principal is None

    @property
    def agent_project_id(self) -> str | None:
        if self.session is not None:
            return self.session.project_id
        return self.server.project_id if self.server is not None else None

    async def project(self, db: AsyncSession, project_id: str | None, *, write: bool) -> Project:
        """The project the caller acts in; agents are confined to their server's project."""
        if self.principal is not None:
            if not project_id:
                raise NotFound("project not found")
            return (await access(db, self.principal, project_id, write=write)).project
        own = self.agent_project_id
        if own is None or (project_id and project_id != own):
            raise NotFound("project not found")
        project = await db.get(Project, own)
        if project is None or project.tenant_id != self.tenant_id:
            raise NotFound("project not found")
        return project

    async def project_ids(self, db: AsyncSession) -> list[str]:
        """Every project the caller may read: an agent's own, or a person's memberships."""
        if self.principal is None:
            own = self.agent_project_id
            return [own] if own else []
        return [a.project.id for a in await list_for(db, self.principal)]

    async def can_see(self, db: AsyncSession, task: Task, *, write: bool = False) -> bool:
        if task.tenant_id != self.tenant_id:
            return False
        try:
            await self.project(db, task.project_id, write=write)
        except NotFound:
            return False
        return True

    async def acts_for(self, db: AsyncSession, session_ids: Iterable[str | None]) -> bool:
        """Whether this agent is one of these sessions. The server key, which every session
        of a public daemon shares (it has no per-session tokens), counts as any one session on
        its own server, never as another server's."""
        ids = {s for s in session_ids if s}
        if self.session is not None:
            return self.session.id in ids
        if self.server is None or not ids:
            return False
        found = await db.scalar(
            select(TerminalSession.id)
            .where(TerminalSession.id.in_(ids), TerminalSession.server_id == self.server.id)
            .limit(1)
        )
        return found is not None

    async def ensure_may_change(self, db: AsyncSession, task: Task) -> None:
        """A worker changes only the tasks it holds or created; people (already checked
        against their project role), orchestrator sessions and the system change any task of
        the project."""
        if self.kind != "agent":
            return
        if await self.acts_for(db, (task.assigned_session_id, task.source_session_id)):
            return
        who = "this session" if self.session is not None else "a session on this server"
        raise Forbidden(
            f"task {task.id[:8]} is neither held nor created by {who}; only a person or an "
            "orchestrator session may change it"
        )


def system_caller(tenant_id: str) -> Caller:
    return Caller(tenant_id, "system", "orchestratia", audit.Actor("system", "auto-assign"))


def event_public(event: TaskEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "task_id": event.task_id,
        "project_id": event.project_id,
        "kind": event.kind,
        "actor": event.actor,
        "summary": event.summary,
        "details": event.details,
        "created_at": event.created_at.isoformat(),
    }


def add_event(
    db: AsyncSession,
    outbox: Outbox,
    task: Task,
    kind: str,
    actor: str,
    summary: str,
    **details: Any,
) -> TaskEvent:
    """Append to the task's timeline (and the project's activity feed)."""
    event = TaskEvent(
        id=new_id(),
        created_at=utcnow(),
        tenant_id=task.tenant_id,
        project_id=task.project_id,
        task_id=task.id,
        kind=kind,
        actor=actor,
        summary=summary,
        details=details,
    )
    db.add(event)
    outbox.events.append(event)
    outbox.touched(task)
    return event
