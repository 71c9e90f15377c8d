"""A server's load over time (``server_samples``): taken from heartbeats at most once a
minute, read back for the server page's chart, dropped after a week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.fleet_models import ServerSample
from orchestratia.hub.db.models import Server

# Heartbeats come every 15 s; a point a minute is plenty for a day's chart and keeps the table
# at ~1,440 rows a server a day.
SAMPLE_EVERY = timedelta(minutes=1)
KEEP_FOR = timedelta(days=7)


@dataclass(frozen=True)
class Reading:
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None
    load1: float | None

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.cpu_percent, self.memory_percent, self.disk_percent))


def _number(value: Any) -> float | None:
    # bool is an int, and a daemon's JSON is not ours to trust: only finite plain numbers count.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) < 1e9 else None


def reading(system_info: dict[str, Any]) -> Reading:
    """The charted figures in a heartbeat's ``system_info`` (missing or odd ones are None)."""
    load = system_info.get("load_avg")
    first = load[0] if isinstance(load, list) and load else system_info.get("load1")
    return Reading(
        _number(system_info.get("cpu_percent")),
        _number(system_info.get("memory_percent")),
        _number(system_info.get("disk_percent")),
        _number(first),
    )


async def record(
    db: AsyncSession, server: Server, system_info: dict[str, Any], now: datetime
) -> bool:
    """Add a sample from this heartbeat unless the server has one from the last minute; the
    caller commits. True when one was added."""
    figures = reading(system_info)
    if figures.empty:
        return False
    latest = await db.scalar(
        select(ServerSample.created_at)
        .where(ServerSample.server_id == server.id)
        .order_by(ServerSample.created_at.desc())
        .limit(1)
    )
    if latest is not None and now - latest < SAMPLE_EVERY:
        return False
    db.add(_sample(server, figures, now))
    return True


async def record_many(
    db: AsyncSession, beats: list[tuple[Server, dict[str, Any]]], now: datetime
) -> int:
    """``record`` for many servers' heartbeats with one query for their latest samples; how
    many were added."""
    due = [(server, figures) for server, info in beats if not (figures := reading(info)).empty]
    if not due:
        return 0
    rows = await db.execute(
        select(ServerSample.server_id, func.max(ServerSample.created_at))
        .where(ServerSample.server_id.in_([server.id for server, _ in due]))
        .group_by(ServerSample.server_id)
    )
    latest: dict[str, datetime] = {server_id: at for server_id, at in rows}
    # One bulk insert, not an ORM object each: at thousands of daemons the unit of work's
    # per-object bookkeeping was a tenth of the hub's CPU, all of it blocking the event loop.
    added = [
        _columns(server, figures, now)
        for server, figures in due
        if (last := latest.get(server.id)) is None or now - last >= SAMPLE_EVERY
    ]
    if added:
        await db.execute(insert(ServerSample), added)
    return len(added)


def _sample(server: Server, figures: Reading, now: datetime) -> ServerSample:
    return ServerSample(
        tenant_id=server.tenant_id,
        server_id=server.id,
        created_at=now,
        cpu_percent=figures.cpu_percent,
        memory_percent=figures.memory_percent,
        disk_percent=figures.disk_percent,
        load1=figures.load1,
    )


def _columns(server: Server, figures: Reading, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": server.tenant_id,
        "server_id": server.id,
        "created_at": now,
        "cpu_percent": figures.cpu_percent,
        "memory_percent": figures.memory_percent,
        "disk_percent": figures.disk_percent,
        "load1": figures.load1,
    }


async def since(db: AsyncSession, server: Server, start: datetime) -> list[ServerSample]:
    """The server's samples from ``start`` on, oldest first (``server`` is access-checked)."""
    rows = await db.scalars(
        select(ServerSample)
        .where(
            ServerSample.server_id == server.id,
            ServerSample.tenant_id == server.tenant_id,
            ServerSample.created_at >= start,
        )
        .order_by(ServerSample.created_at)
    )
    return list(rows)


async def prune(db: AsyncSession, older_than: datetime) -> int:
    """Drop samples past ``older_than``; returns how many went."""
    result = await db.execute(delete(ServerSample).where(ServerSample.created_at < older_than))
    await db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
