"""Task operations shared by the dashboard/External API and the agent API: each runs one
transaction, commits, then carries out its side effects (``task_delivery.finish``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.task_models import Task, TaskEvent, TaskNote
from orchestratia.hub.errors import Conflict
from orchestratia.hub.services.inbox import interventions
from orchestratia.hub.services.tasks import dependencies as deps
from orchestratia.hub.services.tasks import flow as task_flow
from orchestratia.hub.services.tasks import pipelines
from orchestratia.hub.services.tasks import records as tasks
from orchestratia.hub.services.tasks import views as task_views
from orchestratia.hub.services.tasks.context import Caller, Outbox, event_public
from orchestratia.hub.state import HubState
from orchestratia.hub.ws import task_delivery
from orchestratia.protocol.pipelines import PipelineCreate, PipelineResult
from orchestratia.protocol.task_replies import (
    CancelResponse,
    DependencyPublic,
    HelpResponse,
    NoteList,
    NotePublic,
    TaskEventList,
    TaskEventPublic,
    TaskList,
    TaskPublic,
)
from orchestratia.protocol.tasks import (
    ApprovalDecision,
    DependencySpec,
    NoteCreate,
    PlanDecision,
    TaskAssign,
    TaskComplete,
    TaskCreate,
    TaskFail,
    TaskHelpRequest,
    TaskPlanSubmit,
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
    except IntegrityError:
        # A unique key taken by a concurrent request (the same external_ref, the same
        # dependency): the client's change lost the race, which is a conflict, not a crash.
        await db.rollback()
        raise Conflict("a concurrent change got there first; nothing was saved, retry") from None
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
    db: AsyncSession, hub: HubState, caller: Caller, body: TaskCreate, response: Response
) -> TaskPublic:
    """Create the task; a replayed idempotency key returns the existing task with 200, not 201."""
    task, created = await in_transaction(db, hub, lambda o: tasks.create(db, caller, body, o))
    if not created:
        response.status_code = 200
    return await task_views.render_one(db, task)


async def task_list(db: AsyncSession, rows: list[Task]) -> TaskList:
    rendered = await task_views.render(db, rows)
    return TaskList(tasks=rendered, count=len(rendered))


def event_list(rows: list[TaskEvent]) -> TaskEventList:
    return TaskEventList(events=[TaskEventPublic.model_validate(event_public(e)) for e in rows])


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


async def start(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, epoch: int | None
) -> TaskPublic:
    return await acted(
        db, hub, caller, task_id, lambda t, o: task_flow.start(db, caller, t, epoch, o)
    )


async def complete(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: TaskComplete
) -> TaskPublic:
    return await acted(
        db, hub, caller, task_id, lambda t, o: task_flow.complete(db, caller, t, body, o)
    )


async def fail(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: TaskFail
) -> TaskPublic:
    return await acted(
        db,
        hub,
        caller,
        task_id,
        lambda t, o: task_flow.fail(db, caller, t, body.error, body.epoch, o),
    )


async def submit_plan(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: TaskPlanSubmit
) -> TaskPublic:
    return await acted(
        db, hub, caller, task_id, lambda t, o: task_flow.submit_plan(db, caller, t, body, o)
    )


async def decide_plan(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: PlanDecision
) -> TaskPublic:
    return await acted(
        db,
        hub,
        caller,
        task_id,
        lambda t, o: task_flow.decide_plan(db, caller, t, body.approve, body.feedback, o),
    )


async def decide_approval(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: ApprovalDecision
) -> TaskPublic:
    return await acted(
        db,
        hub,
        caller,
        task_id,
        lambda t, o: tasks.decide_approval(db, caller, t, body.approve, body.reason, o),
    )


async def ask_help(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: TaskHelpRequest
) -> HelpResponse:
    made: list[str] = []

    async def action(task: Task, outbox: Outbox) -> None:
        made.append((await interventions.ask_help(db, caller, task, body, outbox)).id)

    task = await acted(db, hub, caller, task_id, action)
    return HelpResponse(intervention_id=made[0], status="pending", task=task)


async def add_note(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: NoteCreate
) -> NotePublic:
    async def work(outbox: Outbox) -> TaskNote:
        task = await tasks.load(db, caller, task_id, write=True)
        # The hub types a note into its holder's terminal: a worker may not reach another
        # session's terminal through a task that is not its own.
        await caller.ensure_may_change(db, task)
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
        # Both ends locked, in id order: concurrent opposite edges then serialize (the second
        # sees the first and is refused as a cycle) instead of deadlocking.
        first, second = sorted((task_id, body.depends_on_task_id))
        locked = {t: await tasks.load(db, caller, t, write=True) for t in (first, second)}
        task, upstream = locked[task_id], locked[body.depends_on_task_id]
        await caller.ensure_may_change(db, task)  # the dependent changes; the upstream does not
        dep = await deps.add(
            db, outbox, task, upstream, body.dependency_type, body.contract_key, caller.name
        )
        return dep.id

    dep_id = await in_transaction(db, hub, work)
    task = await task_views.render_one(db, await tasks.load(db, caller, task_id))
    return next(d for d in task.dependencies if d.id == dep_id)


async def remove_dependency(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, upstream_id: str
) -> Response:
    async def work(outbox: Outbox) -> None:
        task = await tasks.load(db, caller, task_id, write=True)
        await caller.ensure_may_change(db, task)
        await deps.remove(db, outbox, task, upstream_id, caller.name)

    await in_transaction(db, hub, work)
    return Response(status_code=204)


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
