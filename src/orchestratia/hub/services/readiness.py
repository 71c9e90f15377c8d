"""Whether this hub can serve (``/readyz``): its database answers and its schema is current.

Orchestrators and load balancers poll this every few seconds, so each check has a short deadline
and a failure is reported as data (which check, why), never raised.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestratia.hub.db.migrate import alembic_config


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@functools.cache
def packaged_head() -> str | None:
    """The newest migration this package ships (read once: the files do not change)."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def _revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        try:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        except SQLAlchemyError:
            # No version table at all: a database nobody migrated.
            return None
        return str(row[0]) if row is not None else None


async def check(engine: AsyncEngine, timeout: float) -> list[Check]:
    """The database check and the migrations check, each with a one-line detail."""
    head = packaged_head()
    try:
        async with asyncio.timeout(timeout):
            revision = await _revision(engine)
    except TimeoutError:
        reason = f"no answer to SELECT 1 within {timeout:g}s"
        return [Check("database", False, reason), Check("migrations", False, "not checked")]
    except (SQLAlchemyError, OSError) as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        return [Check("database", False, reason), Check("migrations", False, "not checked")]
    database = Check("database", True, "answers")
    if revision == head:
        return [database, Check("migrations", True, f"at {head}")]
    behind = f"database at {revision or 'no revision'}, this hub needs {head}"
    return [database, Check("migrations", False, f"{behind}; run `orchestratia hub migrate`")]
