"""Tasks as clients read them: names of sessions and servers, dependencies with their contract
status, and the blockers that keep a task from starting. Loaded in batches for lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.task_models import Task, TaskDependency
from orchestratia.hub.services.fleet import sessions as fleet_sessions
from orchestratia.protocol.task_replies import BlockerPublic, DependencyPublic, TaskPublic
from orchestratia.protocol.tasks import TERMINAL_STATUSES

BLOCKING = ("blocks", "input")


def contract_status(dep: TaskDependency, upstream: Task | None, dependent: Task) -> str:
    if dep.dependency_type != "input":
        return "none"
    if upstream is not None and upstream.status in ("failed", "cancelled"):
        return "upstream_failed"
    if not dep.resolved:
        return "waiting"
    if dep.contract_key and dep.contract_key in (dependent.resolved_inputs or {}):
        return "received"
    return "missing"


def blockers_of(
    task: Task, deps: Sequence[TaskDependency], tasks: dict[str, Task]
) -> list[BlockerPublic]:
    out = []
    for dep in deps:
        if dep.resolved or dep.dependency_type not in BLOCKING:
            continue
        upstream = tasks.get(dep.depends_on_task_id)
        out.append(
            BlockerPublic(
                task_id=dep.depends_on_task_id,
                title=upstream.title if upstream else "(deleted)",
                status=upstream.status if upstream else "unknown",
                dependency_type=dep.dependency_type,
            )
        )
    return out


async def render(db: AsyncSession, tasks: Sequence[Task]) -> list[TaskPublic]:
    if not tasks:
        return []
    ids = [t.id for t in tasks]
    deps_rows = (
        await db.scalars(select(TaskDependency).where(TaskDependency.task_id.in_(ids)))
    ).all()
    deps: dict[str, list[TaskDependency]] = defaultdict(list)
    for dep in deps_rows:
        deps[dep.task_id].append(dep)
    known = {t.id: t for t in tasks}
    missing = {d.depends_on_task_id for d in deps_rows} - known.keys()
    if missing:
        for upstream in await db.scalars(select(Task).where(Task.id.in_(missing))):
            known[upstream.id] = upstream
    session_ids = {
        sid
        for t in tasks
        for sid in (t.assigned_session_id, t.source_session_id, t.lost_session_id)
        if sid
    }
    sessions, servers = await fleet_sessions.with_servers(db, session_ids)
    return [_public(t, deps[t.id], known, sessions, servers) for t in tasks]


async def render_one(db: AsyncSession, task: Task) -> TaskPublic:
    return (await render(db, [task]))[0]


async def render_ids(db: AsyncSession, task_ids: Iterable[str]) -> list[TaskPublic]:
    """The tasks with these ids, as they are now (unknown ids are skipped)."""
    return await render(db, list(await db.scalars(select(Task).where(Task.id.in_(task_ids)))))


def _public(
    task: Task,
    deps: list[TaskDependency],
    known: dict[str, Task],
    sessions: dict[str, TerminalSession],
    servers: dict[str, Server],
) -> TaskPublic:
    assigned = sessions.get(task.assigned_session_id or "")
    source = sessions.get(task.source_session_id or "")
    lost = sessions.get(task.lost_session_id or "")
    server = servers.get(assigned.server_id) if assigned else None
    blockers = blockers_of(task, deps, known)
    return TaskPublic(
        id=task.id,
        project_id=task.project_id,
        pipeline_id=task.pipeline_id,
        title=task.title,
        spec=task.spec,
        structured_spec=task.structured_spec,
        status=task.status,
        priority=task.priority,
        type=task.type,
        target_repo=task.target_repo,
        target_branch=task.target_branch,
        acceptance_criteria=list(task.acceptance_criteria or []),
        labels=list(task.labels or []),
        external_ref=task.external_ref,
        assigned_session_id=task.assigned_session_id,
        target_session_name=assigned.name if assigned else None,
        assigned_server_id=server.id if server else None,
        assigned_server_name=server.name if server else None,
        source_session_id=task.source_session_id,
        source_session_name=source.name if source else None,
        session_lost=task.lost_session_id is not None and task.status not in TERMINAL_STATUSES,
        lost_session_id=task.lost_session_id,
        lost_session_name=lost.name if lost else None,
        created_by=task.created_by,
        require_plan=task.require_plan,
        plan=task.plan,
        plan_feedback=task.plan_feedback,
        result=task.result,
        error=task.error,
        resolved_inputs=dict(task.resolved_inputs or {}),
        missing_contracts=list(task.missing_contracts or []),
        git_diff_stats=task.git_diff_stats,
        assignment_reason=task.assignment_reason,
        epoch=task.epoch,
        approval_status=task.approval_status,
        pending_approval=task.approval_status == "pending",
        blocked=bool(blockers),
        blocked_by=blockers,
        dependencies=[
            DependencyPublic(
                id=d.id,
                task_id=d.task_id,
                depends_on_task_id=d.depends_on_task_id,
                depends_on_title=known[d.depends_on_task_id].title
                if d.depends_on_task_id in known
                else None,
                depends_on_status=known[d.depends_on_task_id].status
                if d.depends_on_task_id in known
                else None,
                dependency_type=d.dependency_type,
                contract_key=d.contract_key,
                resolved=d.resolved,
                resolved_at=d.resolved_at,
                contract_status=contract_status(d, known.get(d.depends_on_task_id), task),
            )
            for d in deps
        ],
        created_at=task.created_at,
        updated_at=task.updated_at,
        assigned_at=task.assigned_at,
        started_at=task.started_at,
        completed_at=task.completed_at,
    )
