"""Leases that keep hub replicas on one database from doing the same work twice: queued work
rows (webhook deliveries, notifications) claimed so that exactly one replica carries out a given
attempt, and the cluster's periodic chores (``start_chore``) run by one replica per interval.

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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import ChoreLease
from orchestratia.hub.db.types import utcnow

# A leased work row: it has id, status, next_attempt_at, lease_owner and lease_until columns.
RowT = TypeVar("RowT")


def free_or_ours(model: Any, owner: str, now: datetime) -> ColumnElement[bool]:
    """A lease (``lease_owner`` until ``lease_until``) that ``owner`` may take or renew at
    ``now``: nobody holds it, its holder stopped renewing it, or it is ``owner``'s already."""
    return or_(model.lease_owner.is_(None), model.lease_owner == owner, model.lease_until < now)


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


async def start_chore(
    db: AsyncSession, name: str, owner: str, interval: timedelta, run_limit: timedelta
) -> bool:
    """Take one run of the chore ``name`` for ``owner`` if the run is due and no other replica
    is running it (or the one that was stopped renewing: it died); commits. True: run it now,
    then ``finish_chore``. The next run is due an interval later whoever makes it, so replicas
    ticking at their own pace together run the chore once per interval."""
    now = utcnow()
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    await db.execute(
        insert(ChoreLease)
        .values(name=name, next_run_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    # A little early, so the replica that ran it last (its timer started after that run) gets
    # the next run too instead of a replica whose timer happens to fire a moment later.
    slack = min(interval / 10, timedelta(seconds=1))
    taken: Any = await db.execute(
        update(ChoreLease)
        .where(
            ChoreLease.name == name,
            ChoreLease.next_run_at <= now,
            free_or_ours(ChoreLease, owner, now),
        )
        .values(lease_owner=owner, lease_until=now + run_limit, next_run_at=now + interval - slack)
        .execution_options(synchronize_session=False)
    )
    await db.commit()
    return bool(taken.rowcount == 1)


async def finish_chore(db: AsyncSession, name: str, owner: str) -> None:
    """``owner``'s run of ``name`` is over (done or failed: the next is due at its time anyway);
    let go of it, unless it ran so long that another replica took it over. Commits."""
    await db.execute(
        update(ChoreLease)
        .where(ChoreLease.name == name, ChoreLease.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, last_run_by=owner)
        .execution_options(synchronize_session=False)
    )
    await db.commit()
