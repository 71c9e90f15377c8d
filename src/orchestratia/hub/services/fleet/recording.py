"""Durable session recordings: output chunks keyed by absolute offset (idempotent on resend)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.db.models import OutputChunk, TerminalSession
from orchestratia.protocol.numbers import INT32_MAX


def fresh_part(end: int, data: bytes, offset: int | None) -> tuple[int, bytes]:
    """The part of ``data`` (written at ``offset``; None: at the end, for legacy daemons) that
    extends a recording currently ``end`` bytes long, and where it starts.

    Bytes already held are dropped, so a daemon resending after a reconnect never duplicates;
    data starting past the end is refused (empty) and the daemon resends from the ack.
    """
    if offset is None:
        offset = end
    if offset > end or offset + len(data) <= end:
        return end, b""
    return end, data[end - offset :]


async def store(
    db: AsyncSession, session: TerminalSession, offset: int, data: bytes, redactions: int = 0
) -> int:
    """Durably append ``data`` (from ``fresh_part``) and return the new contiguous end."""
    if data:
        db.add(
            OutputChunk(
                session_id=session.id, offset=offset, tenant_id=session.tenant_id, data=data
            )
        )
        session.output_offset = offset + len(data)
    # Each frame's counts are in range, but their sum over a long session need not be: the
    # total saturates rather than overflow its 32-bit column.
    session.redactions = min(session.redactions + redactions, INT32_MAX)
    if data or redactions:
        await db.commit()
    return session.output_offset


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


async def prune(db: AsyncSession, older_than: datetime) -> int:
    """Drop chunks past the retention horizon; returns how many went."""
    result = await db.execute(delete(OutputChunk).where(OutputChunk.created_at < older_than))
    await db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
