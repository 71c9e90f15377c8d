"""The agent API under ``/api/v1/server/`` (SPEC §5, docs/tasks.md): what the ``orchestratia`` CLI
inside a session calls. Reply shapes follow the public CLI, so it works against this hub."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import Field

from orchestratia.hub.actions import tasks as task_actions
from orchestratia.hub.api.callers import AgentCallerDep
from orchestratia.hub.api.deps import HubDep, SessionDep
from orchestratia.hub.api.scopes import SERVER_KEY
from orchestratia.hub.services.fleet import briefs
from orchestratia.hub.services.inbox import interventions
from orchestratia.hub.services.tasks import records as tasks
from orchestratia.protocol.agent_status import AgentStatus, ServerBriefList, SessionBriefList
from orchestratia.protocol.pipelines import PipelineCreate, PipelineResult
from orchestratia.protocol.rest import StrictBody
from orchestratia.protocol.task_replies import (
    CancelResponse,
    DependencyPublic,
    HelpResponse,
    InterventionList,
    InterventionPublic,
    NoteList,
    NotePublic,
    TaskList,
    TaskPublic,
)
from orchestratia.protocol.tasks import (
    AgentDependencyCreate,
    AgentNoteCreate,
    AgentTaskAssign,
    AgentTaskCreate,
    AgentTaskUpdate,
    EpochBody,
    TaskComplete,
    TaskFail,
    TaskHelpRequest,
    TaskPlanSubmit,
)

router = APIRouter(prefix="/api/v1/server", tags=["agent"], dependencies=[SERVER_KEY])
PUBLIC_LIST_LIMIT = 50
OptionalId = Annotated[str | None, Query(max_length=64)]


class InterventionAnswer(StrictBody):
    response: str = Field(min_length=1, max_length=20_000)


@router.get("/tasks")
async def list_tasks(
    caller: AgentCallerDep,
    db: SessionDep,
    status: Annotated[str | None, Query(max_length=200)] = None,
    project_id: OptionalId = None,
) -> TaskList:
    statuses = [s for s in (status or "").split(",") if s]
    rows = await tasks.list_tasks(db, caller, project_id, statuses, None, PUBLIC_LIST_LIMIT)
    return await task_actions.task_list(db, rows)


@router.post("/tasks", status_code=201)
async def create_task(
    body: AgentTaskCreate, caller: AgentCallerDep, db: SessionDep, hub: HubDep, response: Response
) -> TaskPublic:
    caller = await briefs.with_session(db, caller, body.session_id)
    task, created = await task_actions.create(db, hub, caller, body)
    if not created:  # a replayed idempotency key: the task already existed
        response.status_code = 200
    return task


@router.get("/tasks/check")
async def check(caller: AgentCallerDep, db: SessionDep, session_id: OptionalId = None) -> TaskList:
    return await task_actions.task_list(db, await tasks.check(db, caller, session_id))


@router.get("/tasks/{task_id}")
async def get_task(task_id: str, caller: AgentCallerDep, db: SessionDep) -> TaskPublic:
    return await task_actions.get(db, caller, task_id)


@router.put("/tasks/{task_id}")
async def update_task(
    task_id: str, body: AgentTaskUpdate, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.update(db, hub, caller, task_id, body)


@router.delete("/tasks/{task_id}")
async def cancel_task(
    task_id: str, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> CancelResponse:
    return await task_actions.cancel(db, hub, caller, task_id)


@router.post("/tasks/{task_id}/start")
async def start(
    task_id: str, caller: AgentCallerDep, db: SessionDep, hub: HubDep, body: EpochBody | None = None
) -> TaskPublic:
    return await task_actions.start(db, hub, caller, task_id, body.epoch if body else None)


@router.post("/tasks/{task_id}/complete")
async def complete(
    task_id: str, body: TaskComplete, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.complete(db, hub, caller, task_id, body)


@router.post("/tasks/{task_id}/fail")
async def fail(
    task_id: str, body: TaskFail, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.fail(db, hub, caller, task_id, body)


@router.post("/tasks/{task_id}/plan")
async def plan(
    task_id: str, body: TaskPlanSubmit, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.submit_plan(db, hub, caller, task_id, body)


@router.post("/tasks/{task_id}/help")
async def ask_help(
    task_id: str, body: TaskHelpRequest, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> HelpResponse:
    return await task_actions.ask_help(db, hub, caller, task_id, body)


@router.post("/tasks/{task_id}/assign")
async def assign(
    task_id: str, body: AgentTaskAssign, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> TaskPublic:
    return await task_actions.assign(db, hub, caller, task_id, body)


@router.get("/tasks/{task_id}/notes")
async def list_notes(task_id: str, caller: AgentCallerDep, db: SessionDep) -> NoteList:
    return await task_actions.list_notes(db, caller, task_id)


@router.post("/tasks/{task_id}/notes", status_code=201)
async def add_note(
    task_id: str, body: AgentNoteCreate, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> NotePublic:
    return await task_actions.add_note(db, hub, caller, task_id, body)


@router.post("/tasks/{task_id}/dependencies", status_code=201)
async def add_dependency(
    task_id: str, body: AgentDependencyCreate, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> DependencyPublic:
    return await task_actions.add_dependency(db, hub, caller, task_id, body)


@router.delete("/tasks/{task_id}/dependencies/{depends_on}", status_code=204)
async def remove_dependency(
    task_id: str, depends_on: str, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> Response:
    await task_actions.remove_dependency(db, hub, caller, task_id, depends_on)
    return Response(status_code=204)


@router.post("/pipelines", status_code=201)
async def create_pipeline(
    body: PipelineCreate, caller: AgentCallerDep, db: SessionDep, hub: HubDep
) -> PipelineResult:
    return await task_actions.create_pipeline(db, hub, caller, body)


@router.get("/interventions")
async def list_interventions(
    caller: AgentCallerDep,
    db: SessionDep,
    task_id: OptionalId = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> InterventionList:
    rows = await interventions.list_for(db, caller, task_id, status)
    return InterventionList(interventions=[interventions.public(r) for r in rows])


@router.post("/interventions/{intervention_id}/respond")
async def respond(
    intervention_id: str,
    body: InterventionAnswer,
    caller: AgentCallerDep,
    db: SessionDep,
    hub: HubDep,
) -> InterventionPublic:
    row = await task_actions.respond(db, hub, caller, intervention_id, body.response)
    return interventions.public(row)


@router.get("/servers")
async def list_servers(caller: AgentCallerDep, db: SessionDep) -> ServerBriefList:
    project = await caller.project(db, None, write=False)
    return ServerBriefList(servers=await briefs.project_servers(db, project.id))


@router.get("/sessions")
async def list_sessions(
    caller: AgentCallerDep, db: SessionDep, project_id: OptionalId = None
) -> SessionBriefList:
    project = await caller.project(db, project_id, write=False)
    return SessionBriefList(sessions=await briefs.live_sessions(db, project.id))


@router.get("/status")
async def status(
    caller: AgentCallerDep, db: SessionDep, session_id: OptionalId = None
) -> AgentStatus:
    return await briefs.status(db, await briefs.with_session(db, caller, session_id))
