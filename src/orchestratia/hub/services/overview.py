"""The numbers of the home page (and ``GET /api/v1/overview``): fleet health, sessions, tasks,
the inbox, recent activity and output throughput, for one project or every project the caller
sees. Read-only; every query is scoped to the caller's tenant and visible projects."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.fleet_models import SERVER_REMOVED
from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.task_models import Task, TaskEvent
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services.fleet import activity
from orchestratia.hub.services.fleet.throughput import BUCKET_SECONDS, OutputMeter
from orchestratia.hub.services.inbox import items as inbox
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.protocol.overview import (
    FleetHealth,
    InboxSummary,
    Overview,
    RecentEvent,
    RunningTask,
    SessionCounts,
    TaskCounts,
    Throughput,
)
from orchestratia.protocol.tasks import ACTIVE_STATUSES

LONGEST_SHOWN = 5
RECENT_SHOWN = 10


@dataclass(frozen=True)
class Meters:
    """What the hub keeps in memory about output: bytes per bucket and when each session last
    printed (with the quiet time after which it counts as idle)."""

    output: OutputMeter
    clock: activity.OutputClock
    idle_after: float


async def summary(
    db: AsyncSession, caller: Caller, meters: Meters, project_id: str | None
) -> Overview:
    """``project_id`` None: every project the caller sees (404 for one it does not see)."""
    if project_id is not None:
        ids = [(await caller.project(db, project_id, write=False)).id]
    else:
        ids = await caller.project_ids(db)
    now = utcnow()
    return Overview(
        project_id=project_id,
        projects=len(ids),
        generated_at=now,
        servers=await _fleet(db, caller.tenant_id, ids, now),
        sessions=await _sessions(db, caller.tenant_id, ids, now, meters),
        tasks=await _tasks(db, caller.tenant_id, ids, now),
        inbox=await _inbox(db, caller, project_id, now),
        recent=await _recent(db, caller.tenant_id, ids),
        throughput=Throughput(bucket_seconds=BUCKET_SECONDS, buckets=meters.output.series(ids)),
    )


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


async def _fleet(db: AsyncSession, tenant_id: str, ids: list[str], now: datetime) -> FleetHealth:
    rows = (
        await db.execute(
            select(Server.status, Server.last_seen_at).where(
                Server.tenant_id == tenant_id,
                Server.project_id.in_(ids),
                Server.status != SERVER_REMOVED,  # gone on purpose: neither online nor offline
            )
        )
    ).all()
    online = [seen for status, seen in rows if status == "online"]
    ages = [a for a in (_age(now, seen) for seen in online) if a is not None]
    return FleetHealth(
        online=len(online),
        offline=len(rows) - len(online),
        oldest_heartbeat_seconds=max(ages, default=None),
    )


async def _sessions(
    db: AsyncSession, tenant_id: str, ids: list[str], now: datetime, meters: Meters
) -> SessionCounts:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    mine = (TerminalSession.tenant_id == tenant_id, TerminalSession.project_id.in_(ids))
    live = await db.execute(
        select(TerminalSession.id, TerminalSession.status).where(
            *mine, TerminalSession.status.in_(("starting", "running"))
        )
    )
    statuses = {sid: status for sid, status in live.all()}
    waiting = await activity.waiting_sessions(db, ids)
    by_state = Counter(activity.states(statuses, waiting, meters.clock, meters.idle_after).values())
    ended_today = await db.execute(
        select(TerminalSession.status, func.count())
        .where(
            *mine,
            TerminalSession.status.in_(("exited", "lost")),
            TerminalSession.ended_at >= midnight,
        )
        .group_by(TerminalSession.status)
    )
    ended = {status: n for status, n in ended_today.all()}
    return SessionCounts(
        running=len(statuses),
        working=by_state["working"],
        idle=by_state["idle"],
        waiting=by_state["waiting"],
        exited_today=ended.get("exited", 0),
        lost_today=ended.get("lost", 0),
    )


async def _tasks(db: AsyncSession, tenant_id: str, ids: list[str], now: datetime) -> TaskCounts:
    mine = (Task.tenant_id == tenant_id, Task.project_id.in_(ids))
    by_status = await db.execute(
        select(Task.status, func.count()).where(*mine).group_by(Task.status)
    )
    counts = {status: n for status, n in by_status.all()}
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ended_today = await db.execute(
        select(Task.status, func.count())
        .where(*mine, Task.status.in_(("done", "failed")), Task.completed_at >= midnight)
        .group_by(Task.status)
    )
    ended = {status: n for status, n in ended_today.all()}
    longest = await db.scalars(
        select(Task)
        .where(*mine, Task.status == "running")
        .order_by(Task.started_at.is_(None), Task.started_at, Task.created_at)
        .limit(LONGEST_SHOWN)
    )
    return TaskCounts(
        running=counts.get("running", 0),
        active=sum(n for status, n in counts.items() if status in ACTIVE_STATUSES),
        pending=counts.get("pending", 0),
        done_today=ended.get("done", 0),
        failed_today=ended.get("failed", 0),
        longest_running=[
            RunningTask(
                id=t.id,
                project_id=t.project_id,
                title=t.title,
                started_at=t.started_at,
                running_seconds=_age(now, t.started_at),
            )
            for t in longest
        ],
    )


async def _inbox(
    db: AsyncSession, caller: Caller, project_id: str | None, now: datetime
) -> InboxSummary:
    waiting = await inbox.pending(db, caller, inbox.Filters(project_id=project_id))
    oldest = min((datetime.fromisoformat(i["created_at"]) for i in waiting), default=None)
    return InboxSummary(waiting=len(waiting), oldest_seconds=_age(now, oldest))


async def _recent(db: AsyncSession, tenant_id: str, ids: list[str]) -> list[RecentEvent]:
    rows = (
        await db.execute(
            select(TaskEvent, Task.title)
            .outerjoin(Task, Task.id == TaskEvent.task_id)
            .where(TaskEvent.tenant_id == tenant_id, TaskEvent.project_id.in_(ids))
            .order_by(TaskEvent.created_at.desc())
            .limit(RECENT_SHOWN)
        )
    ).all()
    return [
        RecentEvent(
            id=e.id,
            project_id=e.project_id,
            task_id=e.task_id,
            task_title=title,
            kind=e.kind,
            actor=e.actor,
            summary=e.summary,
            created_at=e.created_at,
        )
        for e, title in rows
    ]
