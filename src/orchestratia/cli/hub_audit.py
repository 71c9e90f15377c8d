"""``orchestratia hub audit …``: check the audit log from the hub's own machine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import typer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestratia.cli.output import console, err_console, fail
from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.services import audit
from orchestratia.hub.settings import HubSettings

app = typer.Typer(help="Check the audit log.", no_args_is_help=True)


@asynccontextmanager
async def hub_database(settings: HubSettings) -> AsyncIterator[AsyncSession]:
    """A session on the hub's database (as configured by its environment), read as the hub
    would; an unreachable or unmigrated database is one line and exit 1."""
    engine = build_engine(settings.resolved_database_url())
    try:
        async with build_sessionmaker(engine)() as db:
            yield db
    except (DBAPIError, OSError) as exc:
        fail(f"cannot read the hub's database: {exc}")
    finally:
        await engine.dispose()


async def _verify(settings: HubSettings) -> audit.ChainReport:
    async with hub_database(settings) as db:
        return await audit.verify_chain(db)


@app.command()
def verify() -> None:
    """Walk the hash chain of every audit event: exit 0 when it holds, else name the first
    broken row and exit 1."""
    report = asyncio.run(_verify(HubSettings()))
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
