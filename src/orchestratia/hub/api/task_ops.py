"""Task operations shared by the dashboard/External API and the agent API: each runs one
transaction, commits, then carries out its side effects (``task_delivery.finish``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.task_models import Task, TaskNote
from orchestratia.hub.services import pipelines, task_flow, task_views, tasks
from orchestratia.hub.services import task_dependencies as deps
from orchestratia.hub.services.task_context import Caller, Outbox
from orchestratia.hub.state import HubState
from orchestratia.hub.ws import task_delivery
from orchestratia.protocol.tasks import (
    CancelResponse,
    DependencyPublic,
    DependencySpec,
    NoteCreate,
    NoteList,
    NotePublic,
    PipelineCreate,
    PipelineResult,
    TaskAssign,
    TaskCreate,
    TaskPublic,
    TaskUpdate,
)

T = TypeVar("T")


async def in_transaction(
    db: AsyncSession, hub: HubState, work: Callable[[Outbox], Awaitable[T]]
) -> T:
    outbox = Outbox()
    try:
        result = await work(outbox)
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    await task_delivery.finish(hub, outbox)
    return result


async def acted(
    db: AsyncSession,
    hub: HubState,
    caller: Caller,
    task_id: str,
    action: Callable[[Task, Outbox], Awaitable[object]],
) -> TaskPublic:
    """Load the task (for writing), apply ``action``, commit, and return the task as it is now."""

    async def work(outbox: Outbox) -> Task:
        task = await tasks.load(db, caller, task_id, write=True)
        await action(task, outbox)
        return task

    task = await in_transaction(db, hub, work)
    return await task_views.render_one(db, task)


async def create(
    db: AsyncSession, hub: HubState, caller: Caller, body: TaskCreate
) -> tuple[TaskPublic, bool]:
    task, created = await in_transaction(db, hub, lambda o: tasks.create(db, caller, body, o))
    return await task_views.render_one(db, task), created


async def get(db: AsyncSession, caller: Caller, task_id: str) -> TaskPublic:
    return await task_views.render_one(db, await tasks.load(db, caller, task_id))


async def update(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: TaskUpdate
) -> TaskPublic:
    return await acted(db, hub, caller, task_id, lambda t, o: tasks.update(db, caller, t, body, o))


async def cancel(db: AsyncSession, hub: HubState, caller: Caller, task_id: str) -> CancelResponse:
    task = await acted(db, hub, caller, task_id, lambda t, o: task_flow.cancel(db, caller, t, o))
    return CancelResponse(cancelled=True, task_id=task.id, task=task)


async def assign(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: TaskAssign
) -> TaskPublic:
    async def action(task: Task, outbox: Outbox) -> None:
        session = await tasks.session_by(
            db, task.project_id, session_id=body.session_id, name=body.session_name
        )
        await task_flow.assign(db, caller, task, session, outbox, require_plan=body.require_plan)

    return await acted(db, hub, caller, task_id, action)


async def add_note(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: NoteCreate
) -> NotePublic:
    async def work(outbox: Outbox) -> TaskNote:
        task = await tasks.load(db, caller, task_id, write=True)
        return await tasks.add_note(db, caller, task, body.content, body.urgent, outbox)

    note = await in_transaction(db, hub, work)
    return NotePublic.model_validate(note, from_attributes=True)


async def list_notes(db: AsyncSession, caller: Caller, task_id: str) -> NoteList:
    task = await tasks.load(db, caller, task_id)
    rows = await tasks.notes(db, task)
    return NoteList(notes=[NotePublic.model_validate(n, from_attributes=True) for n in rows])


async def add_dependency(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: DependencySpec
) -> DependencyPublic:
    async def work(outbox: Outbox) -> str:
        task = await tasks.load(db, caller, task_id, write=True)
        upstream = await tasks.load(db, caller, body.depends_on_task_id)
        dep = await deps.add(
            db, outbox, task, upstream, body.dependency_type, body.contract_key, caller.name
        )
        return dep.id

    dep_id = await in_transaction(db, hub, work)
    task = await task_views.render_one(db, await tasks.load(db, caller, task_id))
    return next(d for d in task.dependencies if d.id == dep_id)


async def remove_dependency(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, upstream_id: str
) -> None:
    async def work(outbox: Outbox) -> None:
        task = await tasks.load(db, caller, task_id, write=True)
        await deps.remove(db, outbox, task, upstream_id, caller.name)

    await in_transaction(db, hub, work)


async def create_pipeline(
    db: AsyncSession, hub: HubState, caller: Caller, body: PipelineCreate
) -> PipelineResult:
    pipeline, created, id_map = await in_transaction(
        db, hub, lambda o: pipelines.create(db, caller, body, o)
    )
    return PipelineResult(
        pipeline_id=pipeline.id,
        tasks_created=len(created),
        id_map=id_map,
        tasks=await task_views.render(db, created),
    )
