"""Whether this hub can serve (``/readyz``): its database answers and its schema is current.

Orchestrators and load balancers poll this every few seconds, so each check has a short deadline
and a failure is reported as data (which check, why), never raised.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestratia.hub.db import migrate


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def packaged_head() -> str:
    """The newest migration(s) this package ships, as ``/readyz`` names them."""
    return ", ".join(sorted(migrate.head_revisions()))


async def _revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        return await conn.run_sync(migrate.current_revisions)


async def check(engine: AsyncEngine, timeout: float) -> list[Check]:
    """The database check and the migrations check, each with a one-line detail."""
    try:
        async with asyncio.timeout(timeout):
            current = await _revisions(engine)
    except TimeoutError:
        reason = f"no answer to SELECT 1 within {timeout:g}s"
        return [Check("database", False, reason), Check("migrations", False, "not checked")]
    except (SQLAlchemyError, OSError) as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        return [Check("database", False, reason), Check("migrations", False, "not checked")]
    database = Check("database", True, "answers")
    head = packaged_head()
    if current == migrate.head_revisions():
        return [database, Check("migrations", True, f"at {head}")]
    revision = ", ".join(sorted(current)) or "no revision"
    behind = f"database at {revision}, this hub needs {head}"
    return [database, Check("migrations", False, f"{behind}; run `orchestratia hub migrate`")]
