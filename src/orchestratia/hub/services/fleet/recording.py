"""Durable session recordings: output chunks keyed by absolute offset (idempotent on resend)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Table, case, cast, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from orchestratia.hub.db.models import OutputChunk, TerminalSession
from orchestratia.protocol.numbers import INT32_MAX

_SESSIONS: Table = TerminalSession.__table__  # type: ignore[assignment]
_CHUNKS: Table = OutputChunk.__table__  # type: ignore[assignment]


def fresh_part(end: int, data: bytes | memoryview, offset: int | None) -> tuple[int, bytes]:
    """The part of ``data`` (written at ``offset``; None: at the end, for legacy daemons) that
    extends a recording currently ``end`` bytes long, and where it starts.

    Bytes already held are dropped, so a daemon resending after a reconnect never duplicates;
    data starting past the end is refused (empty) and the daemon resends from the ack.
    """
    if offset is None:
        offset = end
    if offset > end or offset + len(data) <= end:
        return end, b""
    # One copy out of a received binary frame; whole ``bytes`` come back as they are.
    return end, bytes(data[end - offset :])


@dataclass(frozen=True, slots=True)
class Append:
    """Output to add to one session's recording, which must currently end at ``offset``."""

    session_id: str
    tenant_id: str
    offset: int
    data: bytes
    redactions: int = 0


async def append(db: AsyncConnection, appends: Sequence[Append]) -> set[str]:
    """Append each session's output as one chunk, in the caller's transaction; returns the ids
    of sessions whose recording did not end where expected, left untouched.

    The end moves only from the offset the writer expects (fencing): a writer whose view is
    stale (an old connection after a reconnect, another replica) can never append twice. Core
    statements on a bare connection: this runs for every batch of every session's output.
    """
    fenced: set[str] = set()
    chunks: list[dict[str, object]] = []
    for item in appends:
        values: dict[str, object] = {"output_offset": item.offset + len(item.data)}
        if item.redactions:
            # Each frame's counts are in range, but their sum over a long session need not be:
            # the total saturates rather than overflow its 32-bit column.
            total = cast(_SESSIONS.c.redactions, BigInteger) + item.redactions
            values["redactions"] = case((total > INT32_MAX, INT32_MAX), else_=total)
        result = await db.execute(
            update(_SESSIONS)
            .where(_SESSIONS.c.id == item.session_id, _SESSIONS.c.output_offset == item.offset)
            .values(values)
        )
        if result.rowcount != 1:
            fenced.add(item.session_id)
        elif item.data:
            chunks.append(
                {
                    "session_id": item.session_id,
                    "offset": item.offset,
                    "tenant_id": item.tenant_id,
                    "data": item.data,
                }
            )
    if chunks:
        await db.execute(insert(_CHUNKS), chunks)
    return fenced


async def read(db: AsyncSession, session_id: str, offset: int, limit: int) -> tuple[int, bytes]:
    """Up to ``limit`` bytes from ``offset``; returns the offset of the first byte returned
    (later than asked if retention dropped the start)."""
    first = await db.scalar(
        select(OutputChunk.offset)
        .where(OutputChunk.session_id == session_id, OutputChunk.offset <= offset)
        .order_by(OutputChunk.offset.desc())
        .limit(1)
    )
    start_key = first if first is not None else offset
    rows = await db.execute(
        select(OutputChunk.offset, OutputChunk.data)
        .where(
            OutputChunk.session_id == session_id,
            OutputChunk.offset >= start_key,
            # Only the chunks that can hold the bytes asked for, not the whole tail.
            OutputChunk.offset < offset + limit,
        )
        .order_by(OutputChunk.offset)
    )
    out = bytearray()
    begin: int | None = None
    for chunk_offset, data in rows:
        if begin is None:
            begin = max(offset, chunk_offset)
        elif chunk_offset != begin + len(out):
            break  # a hole left by retention: stop at it rather than splice
        skip = max(0, begin - chunk_offset) if not out else 0
        out += data[skip:]
        if len(out) >= limit:
            break
    if begin is None:
        return offset, b""
    return begin, bytes(out[:limit])


async def stored_end(db: AsyncSession, session_id: str) -> int | None:
    """Where the session's stored output ends (None: no such session)."""
    return await db.scalar(
        select(TerminalSession.output_offset).where(TerminalSession.id == session_id)
    )


async def prune(db: AsyncSession, older_than: datetime) -> int:
    """Drop chunks past the retention horizon; returns how many went."""
    result = await db.execute(delete(OutputChunk).where(OutputChunk.created_at < older_than))
    await db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
