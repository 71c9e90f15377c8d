"""Run Alembic migrations programmatically; one migration set serves SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic interpolates %-signs in options; URL-encoded passwords contain them.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def _outside_event_loop(fn: Callable[[], None]) -> None:
    """env.py drives an async engine via ``asyncio.run``, which cannot nest in a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn).result()


def upgrade(database_url: str, revision: str = "head") -> None:
    _outside_event_loop(lambda: command.upgrade(alembic_config(database_url), revision))


def downgrade(database_url: str, revision: str = "base") -> None:
    _outside_event_loop(lambda: command.downgrade(alembic_config(database_url), revision))


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions this code's migrations end in (read once: the files do not change, and
    ``/readyz`` asks every few seconds)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    """The revisions the database is at (empty: never migrated); run with ``run_sync``."""
    return set(MigrationContext.configure(connection).get_current_heads())
