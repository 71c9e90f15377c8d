"""Re-sealing every sealed column (``hub.sealed_columns``) under the current key.

Work goes in small batches, each committed on its own: an interrupted run loses nothing, and
the next run carries on with what is still under an older key. A value is only replaced if it
is still the one that was read, so a secret the hub changes meanwhile is never overwritten.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Table, and_, func, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestratia.hub.db import team_models  # noqa: F401 - registers mail_settings
from orchestratia.hub.db.models import Base
from orchestratia.hub.sealed_columns import SEALED_COLUMNS, SealedColumn
from orchestratia.hub.sealing import VERSION, Keyring, SealingError, key_id_of

SessionMaker = async_sessionmaker[AsyncSession]

# Values that are not sealed values at all (no key id) are counted under this id.
MALFORMED = "(malformed)"


@dataclass(frozen=True)
class Unopened:
    """A value that did not open: reported, left as it is."""

    column: SealedColumn
    row_id: str
    reason: str


@dataclass
class Batch:
    resealed: int = 0
    changed_meanwhile: int = 0
    unopened: list[Unopened] = field(default_factory=list)
    last_row_id: str | None = None

    @property
    def handled(self) -> int:
        return self.resealed + self.changed_meanwhile + len(self.unopened)

    def add(self, other: Batch) -> None:
        self.resealed += other.resealed
        self.changed_meanwhile += other.changed_meanwhile
        self.unopened.extend(other.unopened)


def _table(column: SealedColumn) -> Table:
    return Base.metadata.tables[column.table]


def _stale(column: SealedColumn, current: str) -> ColumnElement[bool]:
    value = _table(column).c[column.column]
    prefix = f"{VERSION}.{current}."
    return and_(value.is_not(None), not_(value.startswith(prefix, autoescape=True)))


async def key_usage(db: AsyncSession) -> Counter[str]:
    """How many values each key id seals, over every sealed column."""
    usage: Counter[str] = Counter()
    for column in SEALED_COLUMNS:
        value = _table(column).c[column.column]
        for sealed in await db.scalars(select(value).where(value.is_not(None))):
            try:
                usage[key_id_of(sealed)] += 1
            except SealingError:
                usage[MALFORMED] += 1
    return usage


async def stale_count(db: AsyncSession, column: SealedColumn, current: str) -> int:
    """How many values of ``column`` are not sealed with ``current``."""
    return (
        await db.scalar(
            select(func.count()).select_from(_table(column)).where(_stale(column, current))
        )
        or 0
    )


def pending(usage: Counter[str], keyring: Keyring) -> int:
    """Values under a key this keyring has but that is not current: an unfinished rotation."""
    return sum(n for kid, n in usage.items() if kid in keyring.keys and kid != keyring.current)


async def reseal_batch(
    db: AsyncSession, keyring: Keyring, column: SealedColumn, after: str | None, size: int
) -> Batch:
    """Re-seal up to ``size`` values of ``column`` past row ``after`` and commit them."""
    table = _table(column)
    row_id, value = table.c[column.row_id], table.c[column.column]
    query = select(row_id, value).where(_stale(column, keyring.current))
    if after is not None:
        query = query.where(row_id > after)
    rows = (await db.execute(query.order_by(row_id).limit(size))).all()
    batch = Batch(last_row_id=rows[-1][0] if rows else None)
    for rid, sealed in rows:
        try:
            plaintext = keyring.open(sealed, column.aad(rid))
        except SealingError as exc:
            batch.unopened.append(Unopened(column, rid, str(exc)))
            continue
        result = await db.execute(
            update(table)
            .where(row_id == rid, value == sealed)
            .values({column.column: keyring.seal(plaintext, column.aad(rid))})
        )
        if getattr(result, "rowcount", 1) == 1:
            batch.resealed += 1
        else:
            batch.changed_meanwhile += 1
    await db.commit()
    return batch


async def reseal_column(
    sessionmaker: SessionMaker,
    keyring: Keyring,
    column: SealedColumn,
    size: int,
    on_batch: Callable[[Batch], None],
) -> None:
    """Re-seal every value of ``column`` not under the current key, batch after batch."""
    after: str | None = None
    while True:
        async with sessionmaker() as db:
            batch = await reseal_batch(db, keyring, column, after, size)
        if batch.last_row_id is None:
            return
        on_batch(batch)
        after = batch.last_row_id
