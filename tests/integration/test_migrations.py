"""One migration set for SQLite and PostgreSQL: reversible, and in step with the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from orchestratia.hub.db import migrate
from orchestratia.hub.db.models import Base


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diff: list[Any] = compare_metadata(context, Base.metadata)
    return diff


def _state(conn: Connection) -> tuple[set[str], str | None]:
    tables = set(inspect(conn).get_table_names())
    return tables, MigrationContext.configure(conn).get_current_revision()


async def _inspect(url: str) -> tuple[set[str], str | None, list[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables, revision = await conn.run_sync(_state)
            diff = await conn.run_sync(_schema_diff) if revision else []
    finally:
        await engine.dispose()
    return tables, revision, diff


async def test_round_trip_and_models_match(database_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    try:
        tables, revision, diff = await _inspect(database_url)
        assert revision is not None and model_tables <= tables
        assert diff == []

        for _ in range(2):
            migrate.downgrade(database_url, "base")
            tables, revision, _ = await _inspect(database_url)
            assert revision is None
            assert tables & model_tables == set(), tables

            migrate.upgrade(database_url)
            tables, revision, diff = await _inspect(database_url)
            assert revision is not None
            assert tables == model_tables | {"alembic_version"}
            assert diff == [], diff
    finally:
        # The PostgreSQL database is shared by the session: leave it migrated whatever happened.
        migrate.upgrade(database_url)
