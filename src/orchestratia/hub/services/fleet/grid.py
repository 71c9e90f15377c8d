"""The sessions grid's tiles: each session with its server, current task and activity state,
what needs a person first."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.task_models import Task
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.fleet import activity, sessions
from orchestratia.protocol.dashboard_events import ActivityState
from orchestratia.protocol.rest import SessionPublic
from orchestratia.protocol.tasks import ACTIVE_STATUSES


@dataclass(frozen=True)
class Tile:
    session: SessionPublic
    server_name: str
    state: ActivityState
    task_id: str | None
    task_title: str | None


async def _tiles(
    db: AsyncSession, rows: Collection[TerminalSession], clock: activity.OutputClock, idle: float
) -> list[Tile]:
    states = await activity.for_sessions(db, rows, clock, idle)
    ids = [s.id for s in rows]
    names = {
        s.id: s.name
        for s in await db.scalars(select(Server).where(Server.id.in_({r.server_id for r in rows})))
    }
    tasks = {
        t.assigned_session_id: t
        for t in await db.scalars(
            select(Task).where(Task.assigned_session_id.in_(ids), Task.status.in_(ACTIVE_STATUSES))
        )
    }
    tiles = []
    for s in rows:
        task = tasks.get(s.id)
        tiles.append(
            Tile(
                sessions.to_public(s),
                names.get(s.server_id, ""),
                states[s.id],
                task.id if task else None,
                task.title if task else None,
            )
        )
    return sorted(tiles, key=lambda t: activity.sort_key(t.state, t.session.name))


async def for_project(
    db: AsyncSession,
    principal: Principal,
    project_id: str,
    clock: activity.OutputClock,
    idle_after: float,
) -> list[Tile]:
    rows = await sessions.list_for_project(db, principal, project_id)
    return await _tiles(db, rows, clock, idle_after) if rows else []


async def one(
    db: AsyncSession,
    principal: Principal,
    session_id: str,
    clock: activity.OutputClock,
    idle_after: float,
) -> Tile:
    return (await _tiles(db, [await sessions.get(db, principal, session_id)], clock, idle_after))[0]
