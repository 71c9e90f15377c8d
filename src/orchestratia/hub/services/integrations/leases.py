"""Claiming queued work rows (webhook deliveries, notifications) so that exactly one hub
replica carries out a given attempt.

A row is due when it is ``pending``, its ``next_attempt_at`` has come and nobody holds a live
lease on it. ``claim`` takes a lease on up to ``limit`` due rows in one short transaction:
candidates are read with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (replicas pass over each
other's rows instead of queueing behind them), and each row is then taken with a conditional
UPDATE that only succeeds while the row is still due, which is what makes the claim safe on
SQLite too. A replica that dies mid-attempt leaves a lease that runs out; another replica then
makes the attempt again (the receiver sees the same id: at-least-once, as Standard Webhooks
expects)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.types import utcnow

# A leased work row: it has id, status, next_attempt_at, lease_owner and lease_until columns.
RowT = TypeVar("RowT")


def due(model: Any, now: datetime) -> list[ColumnElement[bool]]:
    """The conditions under which a row of ``model`` may be claimed at ``now``."""
    return [
        model.status == "pending",
        model.next_attempt_at <= now,
        or_(model.lease_until.is_(None), model.lease_until < now),
    ]


async def claim(
    db: AsyncSession,
    model: type[RowT],
    owner: str,
    lease: timedelta,
    limit: int,
    extra: Sequence[ColumnElement[bool]] = (),
) -> list[RowT]:
    """Lease up to ``limit`` due rows of ``model`` (also meeting ``extra``) to ``owner`` and
    commit; the rows this replica now holds, oldest due first."""
    m: Any = model
    now = utcnow()
    conditions = [*due(m, now), *extra]
    stmt = select(m.id).where(*conditions).order_by(m.next_attempt_at).limit(limit)
    if db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=m)
    ids = list((await db.execute(stmt)).scalars())
    taken: list[str] = []
    for row_id in ids:
        result: Any = await db.execute(
            update(m)
            .where(m.id == row_id, *conditions)
            .values(lease_owner=owner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            taken.append(row_id)
    await db.commit()
    if not taken:
        return []
    rows = await db.execute(
        select(m).where(m.id.in_(taken)).execution_options(populate_existing=True)
    )
    return sorted(rows.scalars(), key=lambda row: (row.next_attempt_at, row.id))


async def release(db: AsyncSession, model: Any, row_id: str, owner: str, **values: Any) -> bool:
    """Record the outcome ``values`` of ``owner``'s attempt and drop its lease, only if the
    lease is still ``owner``'s (a replica whose lease ran out must not overwrite the work of
    the replica that took over). Does not commit; True if the row was updated."""
    result: Any = await db.execute(
        update(model)
        .where(model.id == row_id, model.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)
