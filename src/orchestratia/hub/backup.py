"""``orchestratia hub backup``: an online, consistent copy of a SQLite hub database, or the
``pg_dump`` command for a PostgreSQL one (the operator runs it with their own credentials)."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The backup cannot be made; the message says why."""


@dataclass(frozen=True)
class Copied:
    path: Path
    size: int


def stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(parsed.database)


def target_path(out: Path | None, default_dir: Path) -> Path:
    """``out`` itself, or a timestamped file in ``out`` (a directory) or in ``default_dir``."""
    if out is not None and not out.is_dir():
        return out
    directory = out or default_dir
    if out is None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory / f"hub-{stamp()}.db"


def backup_sqlite(source: Path, target: Path) -> Copied:
    """Copy ``source`` into a new file ``target`` (0600) with SQLite's backup API: one
    consistent snapshot even while the hub writes (WAL readers never block its writers)."""
    if not source.exists():
        raise BackupError(f"no hub database at {source}")
    try:
        # O_EXCL: never overwrite an earlier backup; 0600 from the start (it holds the hub's data).
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupError(f"{target} already exists; choose another --out") from None
    except OSError as exc:
        raise BackupError(f"cannot create {target}: {exc.strerror or exc}") from exc
    try:
        _copy(source, target)
    except (sqlite3.Error, BackupError):
        target.unlink(missing_ok=True)
        raise
    return Copied(target, target.stat().st_size)


def _copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # all pages in one step: a single read transaction, one snapshot
        # One self-contained file: no -wal/-shm needed to open the copy.
        dst.execute("PRAGMA journal_mode=DELETE")
        checked = dst.execute("PRAGMA integrity_check").fetchone()
        if checked is None or checked[0] != "ok":
            raise BackupError(f"the copy failed its integrity check: {checked}")
    finally:
        dst.close()
        src.close()


def pg_dump_command(url: str) -> list[str]:
    """The ``pg_dump`` call for a PostgreSQL URL, password masked (``***``)."""
    parsed = make_url(url).set(drivername="postgresql")
    return [
        "pg_dump",
        "--format=custom",
        f"--file=orchestratia-{stamp()}.dump",
        parsed.render_as_string(hide_password=True),
    ]
