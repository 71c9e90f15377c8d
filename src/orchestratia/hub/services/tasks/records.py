"""Tasks: creation (idempotent by ``external_ref``), lookup by id or prefix, listing, edits,
notes and the approval of agent-created tasks. Transitions live in ``tasks.flow``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Project, TerminalSession
from orchestratia.hub.db.task_models import Pipeline, Task, TaskEvent, TaskNote
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Conflict, NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.integrations import announcements
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import deliveries
from orchestratia.hub.services.tasks.context import Caller, add_event
from orchestratia.hub.services.tasks.dependencies import add as add_dependency
from orchestratia.hub.services.tasks.dependencies import short
from orchestratia.hub.services.tasks.flow import LIVE_SESSION, assign, move, trigger
from orchestratia.protocol.tasks import ACTIVE_STATUSES, TaskCreate, TaskFields, TaskUpdate

SPEC_FIELDS = ("title", "spec", "structured_spec", "acceptance_criteria")
# Long texts (a spec) are cut in the audit log: it says what changed, the task holds the text.
AUDIT_TEXT_CHARS = 200


def _brief(value: object) -> object:
    if isinstance(value, str) and len(value) > AUDIT_TEXT_CHARS:
        return value[:AUDIT_TEXT_CHARS] + "…"
    return value


async def load(db: AsyncSession, caller: Caller, task_id: str, *, write: bool = False) -> Task:
    """A task the caller may see; another tenant's or project's task is simply not found."""
    stmt = select(Task).where(Task.id == task_id, Task.tenant_id == caller.tenant_id)
    if write and db.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks and opens its transaction only at the first write: a no-op
        # write first takes the database's write lock, so the checks below read what the
        # previous writer committed and no other writer can slip in before we commit.
        await db.execute(
            sql_update(Task)
            .where(Task.id == task_id, Task.tenant_id == caller.tenant_id)
            .values(epoch=Task.epoch)
            .execution_options(synchronize_session=False)
        )
    # Writers lock the row (PostgreSQL) so two racing transitions cannot both pass the check.
    task = await db.scalar(stmt.with_for_update() if write else stmt)
    if task is None or not await caller.can_see(db, task, write=write):
        raise NotFound(f"task {task_id[:36]} not found")
    return task


async def session_by(
    db: AsyncSession, project_id: str, *, session_id: str | None = None, name: str | None = None
) -> TerminalSession:
    """A live session of the project, by id or by name (names are unique among live sessions)."""
    stmt = select(TerminalSession).where(
        TerminalSession.project_id == project_id, TerminalSession.status.in_(LIVE_SESSION)
    )
    stmt = stmt.where(
        TerminalSession.id == session_id if session_id else TerminalSession.name == name
    )
    session = await db.scalar(stmt.limit(1))
    if session is None:
        raise NotFound(f"no live session {session_id or name!r} in this project")
    return session


def _fields(body: TaskFields) -> dict[str, object]:
    spec = body.structured_spec
    return {
        "title": body.title,
        "spec": body.spec,
        "structured_spec": spec.model_dump(mode="json", by_alias=True) if spec else None,
        "priority": body.priority,
        "type": body.type,
        "acceptance_criteria": list(body.acceptance_criteria),
        "labels": list(body.labels),
        "require_plan": body.require_plan,
    }


def new_task(caller: Caller, project: Project, body: TaskFields, **extra: object) -> Task:
    source = caller.session.id if caller.session is not None else None
    needs_approval = (
        caller.is_agent and caller.kind != "orchestrator" and project.require_task_approval
    )
    now = utcnow()
    return Task(
        id=new_id(),
        tenant_id=project.tenant_id,
        project_id=project.id,
        status="pending",
        created_by=caller.name,
        source_session_id=source,
        approval_status="pending" if needs_approval else "none",
        resolved_inputs={},
        missing_contracts=[],
        epoch=0,
        delivery_deferred=False,
        created_at=now,
        updated_at=now,
        **_fields(body),
        **extra,
    )


async def create(
    db: AsyncSession, caller: Caller, body: TaskCreate, outbox: Outbox
) -> tuple[Task, bool]:
    """Create a task; returns it and False when ``external_ref`` named an existing one."""
    project = await caller.project(db, body.project_id, write=True)
    if body.external_ref:
        existing = await db.scalar(
            select(Task).where(
                Task.project_id == project.id, Task.external_ref == body.external_ref
            )
        )
        if existing is not None:
            return existing, False
    task = new_task(
        caller,
        project,
        body,
        target_repo=body.target_repo,
        target_branch=body.target_branch,
        external_ref=body.external_ref,
    )
    db.add(task)
    await db.flush()
    add_event(db, outbox, task, "created", caller.name, f'created "{task.title}"')
    await announcements.task_created(db, task, caller.name)
    await audit.record(
        db,
        caller.actor,
        "task.created",
        tenant_id=task.tenant_id,
        project_id=project.id,
        target_type="task",
        target_id=task.id,
        details={
            "title": task.title,
            "dependencies": [d.depends_on_task_id for d in body.dependencies]
            + list(body.dependency_ids),
        },
    )
    wanted = [(d.depends_on_task_id, d.dependency_type, d.contract_key) for d in body.dependencies]
    wanted += [(dep_id, "blocks", None) for dep_id in body.dependency_ids]
    for dep_id, dep_type, key in wanted:
        upstream = await load(db, caller, dep_id)
        await add_dependency(db, outbox, task, upstream, dep_type, key, caller.name)
    if body.assign_session_name:
        session = await session_by(db, project.id, name=body.assign_session_name)
        await assign(db, caller, task, session, outbox)
    elif project.auto_assign and task.approval_status != "pending":
        outbox.auto_assign.add(project.id)
    return task, True


async def list_tasks(
    db: AsyncSession,
    caller: Caller,
    project_id: str | None,
    statuses: Sequence[str] = (),
    q: str | None = None,
    limit: int = 200,
    pipeline_id: str | None = None,
) -> list[Task]:
    if caller.is_agent or project_id:
        projects = [(await caller.project(db, project_id, write=False)).id]
    else:
        projects = await caller.project_ids(db)
    stmt = select(Task).where(Task.tenant_id == caller.tenant_id, Task.project_id.in_(projects))
    if statuses:
        stmt = stmt.where(Task.status.in_(statuses))
    if pipeline_id:
        stmt = stmt.where(Task.pipeline_id == pipeline_id)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Task.title).like(like),
                func.lower(Task.spec).like(like),
                Task.id.like(f"{q}%"),
            )
        )
    rows = await db.scalars(stmt.order_by(Task.created_at.desc()).limit(limit))
    return list(rows)


async def pipeline_name(db: AsyncSession, caller: Caller, pipeline_id: str) -> str | None:
    """The name a pipeline was created with (None when unnamed or not the caller's tenant's)."""
    name: str | None = await db.scalar(
        select(Pipeline.name).where(
            Pipeline.id == pipeline_id, Pipeline.tenant_id == caller.tenant_id
        )
    )
    return name


async def check(db: AsyncSession, caller: Caller, session_id: str | None) -> list[Task]:
    """Active tasks assigned to the calling (or named) session."""
    if caller.session is not None:
        sid = caller.session.id
    elif session_id:
        session = await session_by(db, caller.agent_project_id or "", session_id=session_id)
        if caller.server is not None and session.server_id != caller.server.id:
            raise NotFound(f"no live session {session_id!r} on this server")
        sid = session.id
    else:
        raise Conflict("session_id is required (ORCHESTRATIA_SESSION_ID is not set)")
    rows = await db.scalars(
        select(Task)
        .where(Task.assigned_session_id == sid, Task.status.in_(ACTIVE_STATUSES))
        .order_by(Task.assigned_at)
    )
    return list(rows)


async def update(
    db: AsyncSession, caller: Caller, task: Task, body: TaskUpdate, outbox: Outbox
) -> None:
    await caller.ensure_may_change(db, task)
    if task.status in ("done", "failed", "cancelled"):
        raise Conflict(f"task is {task.status} (a final state); it can no longer be edited")
    changes = body.model_dump(exclude_unset=True, mode="json", by_alias=True)
    changed = [k for k, v in changes.items() if getattr(task, k) != v]
    if not changed:
        return
    before = {k: _brief(getattr(task, k)) for k in changed}
    for key in changed:
        setattr(task, key, changes[key])
    task.updated_at = utcnow()
    await audit.record(
        db,
        caller.actor,
        "task.updated",
        tenant_id=task.tenant_id,
        project_id=task.project_id,
        target_type="task",
        target_id=task.id,
        details={"before": before, "after": {k: _brief(changes[k]) for k in changed}},
    )
    add_event(
        db, outbox, task, "updated", caller.name, "updated " + ", ".join(changed), fields=changed
    )
    spec_changes = [k for k in changed if k in SPEC_FIELDS]
    holder = (
        await db.get(TerminalSession, task.assigned_session_id)
        if task.assigned_session_id
        else None
    )
    if (
        spec_changes
        and holder is not None
        and holder.status in LIVE_SESSION
        and task.status != "assigned"
    ):
        deliveries.enqueue(
            db, outbox, holder, "task_updated", task=task, title=task.title, changes=spec_changes
        )


async def add_note(
    db: AsyncSession, caller: Caller, task: Task, content: str, urgent: bool, outbox: Outbox
) -> TaskNote:
    note = TaskNote(
        id=new_id(),
        created_at=utcnow(),
        tenant_id=task.tenant_id,
        task_id=task.id,
        author=caller.name,
        content=content,
        urgent=urgent,
    )
    db.add(note)
    await audit.record(
        db,
        caller.actor,
        "task.note_added",
        tenant_id=task.tenant_id,
        project_id=task.project_id,
        target_type="task",
        target_id=task.id,
        details={"note_id": note.id, "urgent": urgent, "chars": len(content)},
    )
    add_event(
        db,
        outbox,
        task,
        "note",
        caller.name,
        ("urgent note: " if urgent else "note: ") + content[:200],
        note_id=note.id,
    )
    holder = (
        await db.get(TerminalSession, task.assigned_session_id)
        if task.assigned_session_id
        else None
    )
    from_holder = (
        caller.session is not None and holder is not None and caller.session.id == holder.id
    )
    if (
        holder is not None
        and holder.status in LIVE_SESSION
        and task.status in ACTIVE_STATUSES
        and not from_holder
    ):
        deliveries.enqueue(
            db,
            outbox,
            holder,
            "task_note",
            task=task,
            urgent=urgent,
            content=content,
            author=caller.name,
            _note_id=note.id,
        )
    return note


async def notes(db: AsyncSession, task: Task) -> list[TaskNote]:
    rows = await db.scalars(
        select(TaskNote).where(TaskNote.task_id == task.id).order_by(TaskNote.created_at)
    )
    return list(rows)


async def events(db: AsyncSession, task: Task) -> list[TaskEvent]:
    rows = await db.scalars(
        select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(TaskEvent.created_at)
    )
    return list(rows)


async def activity(
    db: AsyncSession, caller: Caller, project_id: str, limit: int = 100
) -> list[TaskEvent]:
    project = await caller.project(db, project_id, write=False)
    rows = await db.scalars(
        select(TaskEvent)
        .where(TaskEvent.project_id == project.id, TaskEvent.tenant_id == caller.tenant_id)
        .order_by(TaskEvent.created_at.desc())
        .limit(limit)
    )
    return list(rows)


async def decide_approval(
    db: AsyncSession, caller: Caller, task: Task, approve: bool, reason: str | None, outbox: Outbox
) -> None:
    """Approve or reject an agent-created task; a rejection is told to the creating session."""
    if task.approval_status != "pending":
        raise Conflict(f"task {short(task.id)} is not awaiting approval ({task.approval_status})")
    task.approval_status = "approved" if approve else "rejected"
    add_event(
        db,
        outbox,
        task,
        "approval",
        caller.name,
        ("approved" if approve else "rejected") + (f": {reason}" if reason else ""),
    )
    await audit.record(
        db,
        caller.actor,
        "task.approved" if approve else "task.rejected",
        tenant_id=task.tenant_id,
        project_id=task.project_id,
        target_type="task",
        target_id=task.id,
        details={"reason": reason},
    )
    if approve:
        if task.status == "assigned":
            await trigger(db, outbox, task, "approved")
        else:
            outbox.auto_assign.add(task.project_id)
        return
    await move(db, outbox, task, "cancel", caller, reason=reason or "rejected")
    task.completed_at = utcnow()
    source = (
        await db.get(TerminalSession, task.source_session_id) if task.source_session_id else None
    )
    if source is not None and source.status in LIVE_SESSION:
        deliveries.enqueue(
            db, outbox, source, "task_rejected", task=task, title=task.title, reason=reason or ""
        )
