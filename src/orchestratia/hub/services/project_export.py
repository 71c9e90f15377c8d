"""A project's work and history as one JSON document (SPEC §12): its settings, its tasks with
results, notes, dependencies, questions and timeline, its pipelines, and its audit events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from orchestratia.hub.db.models import AuditEvent, Project
from orchestratia.hub.db.task_models import (
    Intervention,
    Pipeline,
    Task,
    TaskDependency,
    TaskEvent,
    TaskNote,
)
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Forbidden, NotFound
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.audit_log import public
from orchestratia.protocol.audit import ProjectExport

# Per task: what hangs off it, by the column that names the task.
CHILDREN: tuple[tuple[str, type[TaskNote | TaskDependency | TaskEvent | Intervention]], ...] = (
    ("notes", TaskNote),
    ("dependencies", TaskDependency),
    ("interventions", Intervention),
    ("events", TaskEvent),
)


def _row(row: DeclarativeBase) -> dict[str, Any]:
    values = {c.name: getattr(row, c.name) for c in row.__table__.columns}
    values.pop("tenant_id", None)  # one tenant's document; its internal id says nothing more
    out: dict[str, Any] = to_jsonable_python(values)
    return out


async def _rows(db: AsyncSession, model: Any, *where: Any) -> Sequence[Any]:
    return list(await db.scalars(select(model).where(*where).order_by(model.created_at)))


async def build(db: AsyncSession, project: Project) -> ProjectExport:
    tasks = await _rows(db, Task, Task.project_id == project.id)
    of_project = select(Task.id).where(Task.project_id == project.id)
    children: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for key, model in CHILDREN:
        for child in await _rows(db, model, model.task_id.in_(of_project)):
            children[child.task_id][key].append(_row(child))
    rendered = [{**_row(t), **{key: children[t.id][key] for key, _ in CHILDREN}} for t in tasks]
    pipelines = await _rows(db, Pipeline, Pipeline.project_id == project.id)
    events = await db.scalars(
        select(AuditEvent)
        .where(AuditEvent.project_id == project.id, AuditEvent.tenant_id == project.tenant_id)
        .order_by(AuditEvent.id)
    )
    return ProjectExport(
        exported_at=utcnow(),
        project={**_row(project), "pipelines": [_row(p) for p in pipelines]},
        tasks=rendered,
        audit_events=[public(e) for e in events],
    )


async def for_principal(db: AsyncSession, principal: Principal, project_id: str) -> ProjectExport:
    """Owners and tenant admins only: the document carries the project's audit events (who did
    what, from which address), which the audit log shows to no one else."""
    found = await access(db, principal, project_id)
    if found.role != "owner":
        raise Forbidden("exporting a project is for its owners and tenant admins")
    return await build(db, found.project)


async def for_operator(db: AsyncSession, project_id: str) -> ProjectExport:
    """From the hub's own command line: whoever runs it already holds the database."""
    project = await db.get(Project, project_id)
    if project is None:
        raise NotFound(f"no project {project_id}")
    return await build(db, project)
