"""``orchestratia hub audit …``: check the audit log from the hub's own machine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.cli.output import console, err_console, fail
from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.services import audit
from orchestratia.hub.settings import HubSettings

app = typer.Typer(help="Check the audit log.", no_args_is_help=True)


def database_url(settings: HubSettings) -> str:
    """The hub's database URL; a SQLite file that is not there is one line and exit 1 (opening
    it would create an empty database: nothing to check, and a file left behind)."""
    url = settings.resolved_database_url()
    database = make_url(url).database
    if url.startswith("sqlite") and database and not Path(database).exists():
        fail(
            f"no hub database at {database}; set ORCHESTRATIA_DATABASE_URL or ORCHESTRATIA_DATA_DIR"
        )
    return url


@asynccontextmanager
async def hub_database(url: str) -> AsyncIterator[AsyncSession]:
    """A session on the hub's database, read as the hub would; an unreachable or unmigrated
    database is one line and exit 1."""
    engine = build_engine(url)
    try:
        async with build_sessionmaker(engine)() as db:
            yield db
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        fail(
            f"cannot read the hub's database ({reason}); is ORCHESTRATIA_DATABASE_URL set and "
            "the database migrated (orchestratia hub migrate)?"
        )
    finally:
        await engine.dispose()


async def _verify(url: str) -> audit.ChainReport:
    async with hub_database(url) as db:
        return await audit.verify_chain(db)


@app.command()
def verify() -> None:
    """Walk the hash chain of every audit event: exit 0 when it holds, else name the first
    broken row and exit 1."""
    report = asyncio.run(_verify(database_url(HubSettings())))
    if report.first_break is not None:
        err_console.print(
            f"audit chain BROKEN after {report.checked - 1} good rows: "
            f"{report.first_break.describe()}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    console.print(f"audit chain OK: {report.checked} rows checked", highlight=False)
