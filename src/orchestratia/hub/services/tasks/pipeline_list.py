"""A project's pipelines with the state of their tasks, for the board's pipeline list."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.task_models import Pipeline, Task
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.protocol.pipelines import PipelineState, PipelineSummary
from orchestratia.protocol.tasks import ACTIVE_STATUSES

LIST_LIMIT = 200


def overall(counts: dict[str, int]) -> PipelineState:
    """One word for a pipeline: what a person scanning the list needs to act on first."""
    total = sum(counts.values())
    if counts.get("failed"):
        return "failed"
    if total and counts.get("done", 0) == total:
        return "done"
    if total and counts.get("done", 0) + counts.get("cancelled", 0) == total:
        return "cancelled"
    if counts.get("done") or any(counts.get(s) for s in ACTIVE_STATUSES):
        return "running"
    return "pending"


async def for_project(
    db: AsyncSession, caller: Caller, project_id: str, limit: int = LIST_LIMIT
) -> list[PipelineSummary]:
    """The project's newest pipelines (the caller's access to it checked)."""
    project = await caller.project(db, project_id, write=False)
    rows = list(
        await db.scalars(
            select(Pipeline)
            .where(Pipeline.project_id == project.id, Pipeline.tenant_id == caller.tenant_id)
            .order_by(Pipeline.created_at.desc())
            .limit(limit)
        )
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if rows:
        tallies = await db.execute(
            select(Task.pipeline_id, Task.status, func.count())
            .where(
                Task.tenant_id == caller.tenant_id,
                Task.pipeline_id.in_([p.id for p in rows]),
            )
            .group_by(Task.pipeline_id, Task.status)
        )
        for pipeline_id, status, n in tallies:
            counts[str(pipeline_id)][status] = n
    return [
        PipelineSummary(
            id=p.id,
            project_id=p.project_id,
            name=p.name,
            created_by=p.created_by,
            created_at=p.created_at,
            state=overall(counts[p.id]),
            tasks=sum(counts[p.id].values()),
            counts=counts[p.id],
        )
        for p in rows
    ]
