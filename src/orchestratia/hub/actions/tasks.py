"""Task operations shared by the dashboard/External API and the agent API: each runs one
transaction (``transaction.run``), which commits, then carries out its side effects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.effects import after_commit, assignment_pass
from orchestratia.hub.actions.transaction import run
from orchestratia.hub.db.models import Project
from orchestratia.hub.db.task_models import Intervention, Task, TaskEvent, TaskNote
from orchestratia.hub.services import audit
from orchestratia.hub.services.inbox import interventions
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks import dependencies as deps
from orchestratia.hub.services.tasks import flow as task_flow
from orchestratia.hub.services.tasks import pipelines
from orchestratia.hub.services.tasks import records as tasks
from orchestratia.hub.services.tasks import views as task_views
from orchestratia.hub.services.tasks.assignment_pause import ensure_unpaused
from orchestratia.hub.services.tasks.context import Caller, event_public
from orchestratia.hub.state import HubState
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
    ProjectTaskSettings,
    TaskAssign,
    TaskComplete,
    TaskCreate,
    TaskFail,
    TaskHelpRequest,
    TaskPlanSubmit,
    TaskUpdate,
)


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

    task = await run(db, hub, work)
    return await task_views.render_one(db, task)


async def create(
    db: AsyncSession, hub: HubState, caller: Caller, body: TaskCreate
) -> tuple[TaskPublic, bool]:
    """Create the task; a replayed idempotency key returns the existing task, and False."""
    task, created = await run(db, hub, lambda o: tasks.create(db, caller, body, o))
    return await task_views.render_one(db, task), created


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


async def auto_assign(db: AsyncSession, hub: HubState, caller: Caller, task_id: str) -> TaskPublic:
    """Place the task now, whether or not its project auto-assigns."""
    task = await tasks.load(db, caller, task_id, write=True)
    project_id, task_id = task.project_id, task.id
    await ensure_unpaused(db, project_id, "automatic placement")
    # End this transaction before the pass: it writes the task from sessions of its own, which
    # would wait forever on the row lock ``load`` took (PostgreSQL), and it leaves this session's
    # copy of the task stale; the rollback drops both.
    await db.rollback()
    await after_commit(hub, await assignment_pass(hub, {project_id}, task_id))
    return await get(db, caller, task_id)


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


async def respond(
    db: AsyncSession, hub: HubState, caller: Caller, intervention_id: str, response: str
) -> Intervention:
    """Answer a task's open question (an intervention); the answer goes to the session."""

    async def work(outbox: Outbox) -> Intervention:
        row = await interventions.load(db, caller, intervention_id)
        await interventions.respond(db, caller, row, response, outbox)
        return row

    row = await run(db, hub, work)
    await db.refresh(row)
    return row


async def add_note(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, body: NoteCreate
) -> NotePublic:
    async def work(outbox: Outbox) -> TaskNote:
        task = await tasks.load(db, caller, task_id, write=True)
        # The hub types a note into its holder's terminal: a worker may not reach another
        # session's terminal through a task that is not its own.
        await caller.ensure_may_change(db, task)
        return await tasks.add_note(db, caller, task, body.content, body.urgent, outbox)

    note = await run(db, hub, work)
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
        details = {
            "depends_on": upstream.id,
            "type": body.dependency_type,
            "contract_key": body.contract_key,
        }
        await audit.record_on(db, caller.actor, "task.dependency_added", "task", task, details)
        return dep.id

    dep_id = await run(db, hub, work)
    task = await task_views.render_one(db, await tasks.load(db, caller, task_id))
    return next(d for d in task.dependencies if d.id == dep_id)


async def remove_dependency(
    db: AsyncSession, hub: HubState, caller: Caller, task_id: str, upstream_id: str
) -> None:
    async def work(outbox: Outbox) -> None:
        task = await tasks.load(db, caller, task_id, write=True)
        await caller.ensure_may_change(db, task)
        await deps.remove(db, outbox, task, upstream_id, caller.name)
        details = {"depends_on": upstream_id}
        await audit.record_on(db, caller.actor, "task.dependency_removed", "task", task, details)

    await run(db, hub, work)


async def create_pipeline(
    db: AsyncSession, hub: HubState, caller: Caller, body: PipelineCreate
) -> PipelineResult:
    pipeline, created, id_map = await run(db, hub, lambda o: pipelines.create(db, caller, body, o))
    return PipelineResult(
        pipeline_id=pipeline.id,
        tasks_created=len(created),
        id_map=id_map,
        tasks=await task_views.render(db, created),
    )


async def change_settings(
    db: AsyncSession, hub: HubState, caller: Caller, project_id: str, body: ProjectTaskSettings
) -> Project:
    """Change a project's task settings; turning auto-assignment on runs a pass at once."""

    async def work(outbox: Outbox) -> Project:
        project = await caller.project(db, project_id, write=True)
        after = body.model_dump(exclude_none=True)
        before = {key: getattr(project, key) for key in after}
        for key, value in after.items():
            setattr(project, key, value)
        await audit.record(
            db,
            caller.actor,
            "project.task_settings",
            tenant_id=project.tenant_id,
            project_id=project.id,
            target_type="project",
            target_id=project.id,
            details={"before": before, "after": after},
        )
        if project.auto_assign:
            outbox.auto_assign.add(project.id)
        return project

    return await run(db, hub, work)
