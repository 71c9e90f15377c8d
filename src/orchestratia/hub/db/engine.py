"""Engine and session factory, built from settings at start-up (never at import time)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets the dashboard read while the daemon channel writes; FKs are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts and survives a process crash; only an OS crash or power
    # cut can drop the last commits, and daemons resend anything past the last ack anyway.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def keep_sqlite_private(url: str) -> None:
    """Create a SQLite database file 0600 (its directory 0700) before SQLite does it 0644, and
    take group/other access away from one an older hub left readable. SQLite gives the WAL,
    shared-memory and journal files the database's own mode. No-op for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    # Only a file that does not exist yet is opened: closing any descriptor of a database file
    # drops every POSIX lock this process holds on it, including SQLite's, and then another
    # process can take the file for its own (a "last" connection deleting the WAL under us).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, *(path.with_name(path.name + side) for side in SQLITE_SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(file, os.stat(file).st_mode & 0o700)


def build_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        keep_sqlite_private(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def build_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
