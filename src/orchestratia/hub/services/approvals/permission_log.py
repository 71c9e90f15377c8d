"""The permission log (SPEC §8): every pre-tool-use decision a hook made, shipped by the daemon
in batches and stored once each, and the dashboard's view of it (newest entries, counts, counts
over time)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.approval_models import PermissionDecision as LogRow
from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.types import new_id, utcnow
from orchestratia.hub.errors import Forbidden, Invalid, NotFound
from orchestratia.hub.services.access.projects import access
from orchestratia.hub.services.tasks.context import Caller
from orchestratia.protocol.approval_api import (
    DecisionBucket,
    DecisionCounts,
    PermissionEntryPublic,
    PermissionLogPage,
)
from orchestratia.protocol.approvals import PermissionLogBatch

MAX_WINDOW = timedelta(days=366)
DEFAULT_WINDOW = timedelta(hours=24)
MAX_BUCKETS = 48
BUCKET_SIZES = (60, 300, 900, 3600, 6 * 3600, 86400)  # seconds: a chart's natural steps


@dataclass(frozen=True)
class Stored:
    stored: int
    duplicates: int
    entries: list[PermissionEntryPublic]  # the newly stored ones, for live dashboards


async def store(db: AsyncSession, caller: Caller, batch: PermissionLogBatch) -> Stored:
    """Store a daemon's batch. An entry already stored (same server and entry id,
    e.g. a batch resent after a lost reply) counts as a duplicate. Every entry must name a
    session on the caller's server, else the whole batch is refused naming the first bad one.
    A session token (any role) logs only for its own session: an entry records what that
    session's hook decided, which no other session witnessed."""
    server = caller.server
    if server is None:
        raise Forbidden("the permission log is written by daemons")
    if caller.session is not None:
        for index, entry in enumerate(batch.entries):
            if entry.session_id != caller.session.id:
                raise Forbidden(
                    f"entries[{index}].session_id: a session token logs only for its own session"
                )
    wanted = {e.session_id for e in batch.entries}
    names = await _names(
        db,
        select(TerminalSession.id, TerminalSession.name).where(
            TerminalSession.id.in_(wanted), TerminalSession.server_id == server.id
        ),
    )
    for index, entry in enumerate(batch.entries):
        if entry.session_id not in names:
            raise Invalid(f"entries[{index}].session_id: no such session on this server")
    rows: dict[str, dict[str, Any]] = {}
    for entry in batch.entries:  # the same id twice in one batch is stored once
        rows.setdefault(
            entry.id,
            {
                "id": new_id(),
                "tenant_id": server.tenant_id,
                "project_id": server.project_id,
                "server_id": server.id,
                "session_id": entry.session_id,
                "entry_id": entry.id,
                "agent": entry.agent,
                "tool": entry.tool,
                "tool_input": entry.tool_input,
                "decision": entry.decision,
                "matched_rule_id": entry.matched_rule_id,
                "decided_by": entry.decided_by,
                "reason": entry.reason or None,
                "created_at": entry.created_at.astimezone(UTC),
            },
        )
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(LogRow)
        .values(list(rows.values()))
        .on_conflict_do_nothing(index_elements=["server_id", "entry_id"])
        .returning(LogRow.entry_id)
    )
    inserted = set((await db.scalars(stmt)).all())
    fresh = [
        _public(rows[i], server.name, names.get(rows[i]["session_id"]))
        for i in rows
        if i in inserted
    ]
    return Stored(len(inserted), len(batch.entries) - len(inserted), fresh)


async def _names(db: AsyncSession, stmt: Select[str, str]) -> dict[str, str]:
    return {row_id: name for row_id, name in await db.execute(stmt)}


def _public(
    row: dict[str, Any], server_name: str | None, session_name: str | None
) -> PermissionEntryPublic:
    return PermissionEntryPublic(
        **{k: v for k, v in row.items() if k not in ("id", "tenant_id", "entry_id")},
        id=row["entry_id"],
        server_name=server_name,
        session_name=session_name,
    )


@dataclass(frozen=True)
class LogQuery:
    project_id: str | None = None
    server_id: str | None = None
    session_id: str | None = None
    tool: str | None = None
    decision: str | None = None
    since: datetime | None = None
    limit: int = 200


async def _project_ids(db: AsyncSession, caller: Caller, q: LogQuery) -> list[str]:
    """Projects to read: the one asked for, or every one the caller sees; a named server or
    session must be visible too (404 otherwise, like every other route)."""
    assert caller.principal is not None
    for model, wanted, what in (
        (Server, q.server_id, "server"),
        (TerminalSession, q.session_id, "session"),
    ):
        if wanted is None:
            continue
        row: Any = await db.get(model, wanted)
        if row is None or row.tenant_id != caller.tenant_id:
            raise NotFound(f"{what} not found")
        await access(db, caller.principal, row.project_id)
    if q.project_id is not None:
        return [(await access(db, caller.principal, q.project_id)).project.id]
    return await caller.project_ids(db)


def bucket_seconds(window: timedelta) -> int:
    """The smallest natural step that keeps the chart within ``MAX_BUCKETS`` bars."""
    seconds = max(window.total_seconds(), 1.0)
    for size in BUCKET_SIZES:
        if seconds / size <= MAX_BUCKETS:
            return size
    return math.ceil(seconds / MAX_BUCKETS / 86400) * 86400


def _bucket(db: AsyncSession, size: int) -> ColumnElement[Any]:
    if db.get_bind().dialect.name == "postgresql":
        epoch: ColumnElement[Any] = cast(
            func.floor(func.extract("epoch", LogRow.created_at)), BigInteger
        )
    else:  # SQLite stores UTC text; strftime('%s') reads it as UTC
        epoch = cast(func.strftime("%s", LogRow.created_at), BigInteger)
    return epoch / size


async def query(db: AsyncSession, caller: Caller, q: LogQuery) -> PermissionLogPage:
    """The newest matching entries, with counts and per-bucket counts of all matching entries
    since ``q.since`` (default: the last 24 hours)."""
    if caller.principal is None:
        raise Forbidden("the permission log is read by people")
    now = utcnow()
    since = q.since or now - DEFAULT_WINDOW
    try:
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Invalid("since: not a representable time") from None
    if since > now:
        raise Invalid("since: must not be in the future")
    if now - since > MAX_WINDOW:
        raise Invalid(f"since: at most {MAX_WINDOW.days} days back")
    size = bucket_seconds(now - since)
    projects = await _project_ids(db, caller, q)
    where = [
        LogRow.tenant_id == caller.tenant_id,
        LogRow.project_id.in_(projects),
        LogRow.created_at >= since,
    ]
    for column, value in (
        (LogRow.server_id, q.server_id),
        (LogRow.session_id, q.session_id),
        (LogRow.tool, q.tool),
        (LogRow.decision, q.decision),
    ):
        if value is not None:
            where.append(column == value)
    rows = (
        await db.scalars(
            select(LogRow)
            .where(*where)
            .order_by(LogRow.created_at.desc(), LogRow.id.desc())
            .limit(q.limit)
        )
    ).all()
    counts = DecisionCounts()
    per_bucket: dict[int, DecisionBucket] = {}
    first, last = int(since.timestamp()) // size, int(now.timestamp()) // size
    for index in range(first, last + 1):
        start = datetime.fromtimestamp(index * size, UTC)
        per_bucket[index] = DecisionBucket(start=start)
    bucket = _bucket(db, size).label("bucket")
    grouped = await db.execute(
        select(bucket, LogRow.decision, func.count())
        .where(*where)
        .group_by(bucket, LogRow.decision)
    )
    for index, decision, count in grouped:
        if decision not in ("allowed", "denied", "asked"):
            continue
        setattr(counts, decision, getattr(counts, decision) + count)
        slot = per_bucket.get(int(index))
        if slot is not None:
            setattr(slot, decision, getattr(slot, decision) + count)
    return PermissionLogPage(
        entries=await _render(db, rows),
        counts=counts,
        buckets=list(per_bucket.values()),
        bucket_seconds=size,
        since=since,
    )


async def _render(db: AsyncSession, rows: Sequence[LogRow]) -> list[PermissionEntryPublic]:
    server_ids = {r.server_id for r in rows}
    session_ids = {r.session_id for r in rows if r.session_id}
    servers = await _names(db, select(Server.id, Server.name).where(Server.id.in_(server_ids)))
    sessions = await _names(
        db,
        select(TerminalSession.id, TerminalSession.name).where(TerminalSession.id.in_(session_ids)),
    )
    return [
        PermissionEntryPublic(
            id=r.entry_id,
            project_id=r.project_id,
            server_id=r.server_id,
            server_name=servers.get(r.server_id),
            session_id=r.session_id,
            session_name=sessions.get(r.session_id or ""),
            agent=r.agent,
            tool=r.tool,
            tool_input=r.tool_input,
            decision=r.decision,
            matched_rule_id=r.matched_rule_id,
            decided_by=r.decided_by,
            reason=r.reason,
            created_at=r.created_at,
        )
        for r in rows
    ]
