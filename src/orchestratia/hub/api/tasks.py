"""Dashboard / External API for tasks (docs/tasks.md). Bearer token or cookie + CSRF."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Query, Response

from orchestratia.hub.actions import tasks as task_actions
from orchestratia.hub.api.callers import UserCallerDep
from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.errors import Invalid
from orchestratia.hub.services.tasks import pipeline_list
from orchestratia.hub.services.tasks import records as tasks
from orchestratia.protocol.pipelines import PipelineCreate, PipelineList, PipelineResult
from orchestratia.protocol.task_replies import (
    CancelResponse,
    DependencyPublic,
    NoteList,
    NotePublic,
    TaskEventList,
    TaskList,
    TaskPublic,
    TaskSettingsPublic,
)
from orchestratia.protocol.tasks import (
    ApprovalDecision,
    DependencyCreate,
    NoteCreate,
    PlanDecision,
    ProjectTaskSettings,
    TaskAssign,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
)

router = APIRouter(tags=["tasks"])
STATUSES = get_args(TaskStatus)


def _statuses(raw: list[str]) -> list[str]:
    wanted = [s.strip() for item in raw for s in item.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise Invalid(f"unknown status {unknown[0]!r}; one of: {', '.join(STATUSES)}")
    return wanted


@router.post("/api/v1/tasks", status_code=201, dependencies=[needs("tasks:write")])
async def create_task(
    body: TaskCreate, caller: UserCallerDep, db: SessionDep, hub: HubDep, response: Response
) -> TaskPublic:
    task, created = await task_actions.create(db, hub, caller, body)
    if not created:  # a replayed idempotency key: the task already existed
        response.status_code = 200
    return task


@router.get("/api/v1/tasks", dependencies=[needs("tasks:read")])
async def list_tasks(
    caller: UserCallerDep,
    db: SessionDep,
    project_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[list[str] | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    pipeline_id: Annotated[str | None, Query(max_length=64)] = None,
) -> TaskList:
    rows = await tasks.list_tasks(
        db, caller, project_id, _statuses(status or []), q, limit, pipeline_id=pipeline_id
    )
    return await task_actions.task_list(db, rows)


@router.get("/api/v1/tasks/{task_id}", dependencies=[needs("tasks:read")])
async def get_task(task_id: str, caller: UserCallerDep, db: SessionDep) -> TaskPublic:
    return await task_actions.get(db, caller, task_id)


@router.patch("/api/v1/tasks/{task_id}", dependencies=[needs("tasks:write")])
async def update_task(
    task_id: str, body: TaskUpdate, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.update(db, hub, caller, task_id, body)


@router.delete("/api/v1/tasks/{task_id}", dependencies=[needs("tasks:write")])
async def cancel_task(
    task_id: str, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> CancelResponse:
    return await task_actions.cancel(db, hub, caller, task_id)


@router.post("/api/v1/tasks/{task_id}/assign", dependencies=[needs("tasks:write")])
async def assign_task(
    task_id: str, body: TaskAssign, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.assign(db, hub, caller, task_id, body)


@router.post("/api/v1/tasks/{task_id}/auto-assign", dependencies=[needs("tasks:write")])
async def auto_assign_task(
    task_id: str, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.auto_assign(db, hub, caller, task_id)


@router.get("/api/v1/tasks/{task_id}/notes", dependencies=[needs("tasks:read")])
async def list_notes(task_id: str, caller: UserCallerDep, db: SessionDep) -> NoteList:
    return await task_actions.list_notes(db, caller, task_id)


@router.post("/api/v1/tasks/{task_id}/notes", status_code=201, dependencies=[needs("tasks:write")])
async def add_note(
    task_id: str, body: NoteCreate, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> NotePublic:
    return await task_actions.add_note(db, hub, caller, task_id, body)


@router.post(
    "/api/v1/tasks/{task_id}/dependencies", status_code=201, dependencies=[needs("tasks:write")]
)
async def add_dependency(
    task_id: str, body: DependencyCreate, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> DependencyPublic:
    return await task_actions.add_dependency(db, hub, caller, task_id, body)


@router.delete(
    "/api/v1/tasks/{task_id}/dependencies/{depends_on}",
    status_code=204,
    dependencies=[needs("tasks:write")],
)
async def remove_dependency(
    task_id: str, depends_on: str, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> Response:
    await task_actions.remove_dependency(db, hub, caller, task_id, depends_on)
    return Response(status_code=204)


@router.get("/api/v1/tasks/{task_id}/events", dependencies=[needs("tasks:read")])
async def task_events(task_id: str, caller: UserCallerDep, db: SessionDep) -> TaskEventList:
    return task_actions.event_list(await tasks.events(db, await tasks.load(db, caller, task_id)))


@router.post("/api/v1/tasks/{task_id}/plan-decision", dependencies=[needs("tasks:write")])
async def decide_plan(
    task_id: str, body: PlanDecision, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.decide_plan(db, hub, caller, task_id, body)


@router.post("/api/v1/tasks/{task_id}/approval", dependencies=[needs("tasks:write")])
async def decide_approval(
    task_id: str, body: ApprovalDecision, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.decide_approval(db, hub, caller, task_id, body)


@router.post("/api/v1/pipelines", status_code=201, dependencies=[needs("tasks:write")])
async def create_pipeline(
    body: PipelineCreate, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> PipelineResult:
    return await task_actions.create_pipeline(db, hub, caller, body)


@router.get("/api/v1/pipelines", dependencies=[needs("tasks:read")])
async def list_pipelines(
    project_id: Annotated[str, Query(min_length=1, max_length=64)],
    caller: UserCallerDep,
    db: SessionDep,
) -> PipelineList:
    """The project's newest pipelines, each with its tasks counted by state."""
    return PipelineList(pipelines=await pipeline_list.for_project(db, caller, project_id))


@router.get("/api/v1/projects/{project_id}/activity", dependencies=[needs("tasks:read")])
async def project_activity(
    project_id: str,
    caller: UserCallerDep,
    db: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TaskEventList:
    return task_actions.event_list(await tasks.activity(db, caller, project_id, limit))


@router.patch("/api/v1/projects/{project_id}/task-settings", dependencies=[needs("admin")])
async def task_settings(
    project_id: str, body: ProjectTaskSettings, caller: UserCallerDep, db: SessionDep, hub: HubDep
) -> TaskSettingsPublic:
    project = await task_actions.change_settings(db, hub, caller, project_id, body)
    return TaskSettingsPublic.model_validate(project, from_attributes=True)
