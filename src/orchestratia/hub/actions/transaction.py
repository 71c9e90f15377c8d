"""The core of every write: one transaction, committed before anything is told about it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.hub.actions.effects import after_commit
from orchestratia.hub.errors import Conflict
from orchestratia.hub.services.outbox import Outbox
from orchestratia.hub.state import HubState

T = TypeVar("T")


async def run(db: AsyncSession, hub: HubState, work: Callable[[Outbox], Awaitable[T]]) -> T:
    """Run ``work`` in ``db``'s transaction, commit, then carry out the outbox it filled. On any
    error the transaction rolls back and the outbox is dropped: nothing leaves the hub."""
    outbox = Outbox()
    try:
        result = await work(outbox)
        await db.commit()
    except IntegrityError:
        # A unique key taken by a concurrent request (the same external_ref, the same
        # dependency): the client's change lost the race, which is a conflict, not a crash.
        await db.rollback()
        raise Conflict("a concurrent change got there first; nothing was saved, retry") from None
    except BaseException:
        await db.rollback()
        raise
    await after_commit(hub, outbox)
    return result


async def run_detached(hub: HubState, work: Callable[[AsyncSession, Outbox], Awaitable[T]]) -> T:
    """``run`` in a session of its own, for socket handlers and background sweeps."""
    async with hub.sessionmaker() as db:
        return await run(db, hub, lambda outbox: work(db, outbox))
