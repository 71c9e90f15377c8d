"""Pipelines (SPEC §4): many tasks created in one transaction. ``depends_on`` refers to a temp
id, an index into the list (earlier or later), or an existing task; any bad reference, cycle
or unknown session rolls the whole pipeline back."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.task_models import Pipeline, Task
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import HubError, Invalid, NotFound
from orchestratia.hub.services import audit
from orchestratia.hub.services.integrations import announcements
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.services.tasks.context import Caller, add_event
from orchestratia.hub.services.tasks.dependencies import add as add_dependency
from orchestratia.hub.services.tasks.flow import assign
from orchestratia.hub.services.tasks.records import load, new_task, session_by
from orchestratia.protocol.pipelines import PipelineCreate, PipelineDependency, PipelineRef


class PipelineError(Invalid):
    """A pipeline that cannot be created as given; names the task and the reference."""


async def create(
    db: AsyncSession, caller: Caller, body: PipelineCreate, outbox: Outbox
) -> tuple[Pipeline, list[Task], dict[str, str]]:
    project = await caller.project(db, body.project_id, write=True)
    pipeline = Pipeline(
        id=new_id(),
        created_at=utcnow(),
        tenant_id=project.tenant_id,
        project_id=project.id,
        name=body.name,
        created_by=caller.name,
    )
    db.add(pipeline)
    temp_ids: dict[str, int] = {}
    for index, spec in enumerate(body.tasks):
        key = spec.id or f"task-{index}"
        if key in temp_ids:
            raise PipelineError(f"tasks[{index}]: duplicate id {key!r}")
        temp_ids[key] = index
    tasks: list[Task] = []
    for spec in body.tasks:
        task = new_task(
            caller,
            project,
            spec,
            pipeline_id=pipeline.id,
            target_repo=spec.repo or spec.target_repo,
            target_branch=spec.branch or spec.target_branch,
        )
        db.add(task)
        tasks.append(task)
    await db.flush()
    for index, (spec, task) in enumerate(zip(body.tasks, tasks, strict=True)):
        add_event(
            db,
            outbox,
            task,
            "created",
            caller.name,
            f'created "{task.title}" in pipeline {pipeline.id[:8]}',
        )
        await announcements.task_created(db, task, caller.name)
        for ref in spec.depends_on:
            dep = ref if isinstance(ref, PipelineDependency) else PipelineDependency(task=ref)
            upstream = await _resolve(db, caller, dep.task, temp_ids, tasks, index)
            try:
                await add_dependency(
                    db, outbox, task, upstream, dep.type, dep.contract_key, caller.name
                )
            except HubError as exc:
                raise PipelineError(f"tasks[{index}].depends_on: {exc.detail}") from None
    for index, (spec, task) in enumerate(zip(body.tasks, tasks, strict=True)):
        if spec.assign:
            try:
                session = await session_by(db, project.id, name=spec.assign)
            except NotFound as exc:
                raise PipelineError(f"tasks[{index}].assign: {exc.detail}") from None
            await assign(db, caller, task, session, outbox)
        elif project.auto_assign:
            outbox.auto_assign.add(project.id)
    await audit.record(
        db,
        caller.actor,
        "pipeline.created",
        tenant_id=project.tenant_id,
        project_id=project.id,
        target_type="pipeline",
        target_id=pipeline.id,
        details={"tasks": len(tasks)},
    )
    id_map = {key: tasks[i].id for key, i in temp_ids.items()}
    return pipeline, tasks, id_map


async def _resolve(
    db: AsyncSession,
    caller: Caller,
    ref: PipelineRef,
    temp_ids: dict[str, int],
    tasks: list[Task],
    index: int,
) -> Task:
    where = f"tasks[{index}].depends_on"
    if isinstance(ref, int) or (ref.isascii() and ref.isdigit() and ref not in temp_ids):
        position = int(ref)
        if not 0 <= position < len(tasks):
            raise PipelineError(f"{where}: index {position} is out of range (0-{len(tasks) - 1})")
        return tasks[position]
    if ref in temp_ids:
        return tasks[temp_ids[ref]]
    try:
        return await load(db, caller, ref)
    except NotFound:
        raise PipelineError(
            f"{where}: {ref!r} is neither a temp id in this pipeline nor an existing task"
        ) from None
