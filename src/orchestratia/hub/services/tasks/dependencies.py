"""Dependencies between tasks (SPEC §4): ``blocks`` orders, ``input`` also hands over a contract
under ``contract_key``, ``related`` only informs. Cycles are refused. When a task completes its
dependents are resolved, receive their contracts, and are triggered once nothing blocks them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.task_models import Task, TaskDependency
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Conflict, NotFound
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks.context import add_event
from orchestratia.hub.services.tasks.views import BLOCKING

Trigger = Callable[[AsyncSession, Outbox, Task], Awaitable[None]]


def short(task_id: str) -> str:
    return task_id[:8]


async def unresolved_blockers(db: AsyncSession, task: Task) -> list[Task]:
    rows = await db.execute(
        select(Task)
        .join(TaskDependency, TaskDependency.depends_on_task_id == Task.id)
        .where(
            TaskDependency.task_id == task.id,
            TaskDependency.resolved.is_(False),
            TaskDependency.dependency_type.in_(BLOCKING),
        )
    )
    return list(rows.scalars())


def describe_blockers(blockers: Sequence[Task]) -> str:
    return ", ".join(f'"{b.title}" ({short(b.id)}, {b.status})' for b in blockers)


async def _would_cycle(db: AsyncSession, task_id: str, depends_on: str) -> bool:
    """True if ``depends_on`` already (transitively) depends on ``task_id``."""
    seen: set[str] = set()
    frontier = {depends_on}
    while frontier:
        if task_id in frontier:
            return True
        seen |= frontier
        rows = await db.scalars(
            select(TaskDependency.depends_on_task_id).where(TaskDependency.task_id.in_(frontier))
        )
        frontier = set(rows) - seen
    return False


async def add(
    db: AsyncSession,
    outbox: Outbox,
    task: Task,
    upstream: Task,
    dependency_type: str,
    contract_key: str | None,
    actor: str,
) -> TaskDependency:
    """Add ``task`` → ``upstream`` in the caller's transaction (same project, no cycle)."""
    if upstream.project_id != task.project_id:
        raise NotFound(f"task {short(upstream.id)} not found in this project")
    if upstream.id == task.id:
        raise Conflict("a task cannot depend on itself")
    existing = await db.scalar(
        select(TaskDependency.id).where(
            TaskDependency.task_id == task.id, TaskDependency.depends_on_task_id == upstream.id
        )
    )
    if existing:
        raise Conflict(f"task {short(task.id)} already depends on {short(upstream.id)}")
    if await _would_cycle(db, task.id, upstream.id):
        raise Conflict(
            f"dependency refused: {short(upstream.id)} already depends on {short(task.id)} "
            "(directly or through other tasks), so this would make a cycle"
        )
    dep = TaskDependency(
        id=new_id(),
        created_at=utcnow(),
        tenant_id=task.tenant_id,
        task_id=task.id,
        depends_on_task_id=upstream.id,
        dependency_type=dependency_type,
        contract_key=contract_key,
        resolved=False,
    )
    db.add(dep)
    if upstream.status == "done":
        _resolve(task, dep, upstream)
    what = f'{dependency_type} dependency on {short(upstream.id)} "{upstream.title}"'
    if contract_key:
        what += f" (contract {contract_key})"
    add_event(db, outbox, task, "dependency_added", actor, f"added {what}")
    await db.flush()
    return dep


async def remove(
    db: AsyncSession, outbox: Outbox, task: Task, upstream_id: str, actor: str
) -> None:
    dep = await db.scalar(
        select(TaskDependency).where(
            TaskDependency.task_id == task.id, TaskDependency.depends_on_task_id == upstream_id
        )
    )
    if dep is None:
        raise NotFound(f"task {short(task.id)} does not depend on {short(upstream_id)}")
    await db.delete(dep)
    add_event(
        db, outbox, task, "dependency_removed", actor, f"removed dependency on {upstream_id[:8]}"
    )
    await db.flush()


def _resolve(dependent: Task, dep: TaskDependency, upstream: Task) -> bool:
    """Mark resolved and copy the contract; False when an expected contract is missing."""
    dep.resolved = True
    dep.resolved_at = utcnow()
    if dep.dependency_type != "input" or not dep.contract_key:
        return True
    contracts = (upstream.result or {}).get("contracts") or {}
    if dep.contract_key in contracts:
        dependent.resolved_inputs = {
            **(dependent.resolved_inputs or {}),
            dep.contract_key: contracts[dep.contract_key],
        }
        return True
    missing = list(dependent.missing_contracts or [])
    if dep.contract_key not in missing:
        dependent.missing_contracts = [*missing, dep.contract_key]
    return False


async def on_upstream_done(
    db: AsyncSession, outbox: Outbox, upstream: Task, trigger: Trigger
) -> None:
    """Resolve ``upstream``'s dependents and trigger those that nothing blocks any more."""
    rows = await db.execute(
        select(TaskDependency, Task)
        .join(Task, Task.id == TaskDependency.task_id)
        .where(TaskDependency.depends_on_task_id == upstream.id, TaskDependency.resolved.is_(False))
    )
    for dep, dependent in rows:
        got = _resolve(dependent, dep, upstream)
        if dep.dependency_type == "input" and dep.contract_key:
            if got:
                summary = f"received contract {dep.contract_key} from {short(upstream.id)}"
                kind = "input_resolved"
            else:
                summary = (
                    f"{short(upstream.id)} completed without the expected contract "
                    f"{dep.contract_key}"
                )
                kind = "contract_missing"
            add_event(db, outbox, dependent, kind, "orchestratia", summary, key=dep.contract_key)
        if dependent.status in ("done", "failed", "cancelled"):
            continue
        await db.flush()
        if not await unresolved_blockers(db, dependent):
            add_event(
                db,
                outbox,
                dependent,
                "unblocked",
                "orchestratia",
                f'unblocked: {short(upstream.id)} "{upstream.title}" is done',
            )
            await trigger(db, outbox, dependent)


async def on_upstream_stopped(db: AsyncSession, outbox: Outbox, upstream: Task) -> None:
    """A failed or cancelled upstream leaves its dependents blocked; tell them why."""
    rows = await db.execute(
        select(Task)
        .join(TaskDependency, TaskDependency.task_id == Task.id)
        .where(
            TaskDependency.depends_on_task_id == upstream.id,
            TaskDependency.resolved.is_(False),
            TaskDependency.dependency_type.in_(BLOCKING),
        )
    )
    for dependent in rows.scalars():
        if dependent.status in ("done", "failed", "cancelled"):
            continue
        add_event(
            db,
            outbox,
            dependent,
            "upstream_" + upstream.status,
            "orchestratia",
            f'stays blocked: upstream {short(upstream.id)} "{upstream.title}" {upstream.status}',
        )
