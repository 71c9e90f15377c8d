"""Making sure a SQLite database file is private never costs SQLite its locks: closing any
descriptor of the file drops every POSIX lock the process holds on it, and another process
could then take the database as if nobody used it (and delete the WAL under the hub)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from orchestratia.hub.db.engine import keep_sqlite_private

# Another process asks for the write lock at once: refused while we read, granted otherwise.
TRY_EXCLUSIVE = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    con.execute("BEGIN EXCLUSIVE")
except sqlite3.OperationalError as exc:
    print("refused:", exc)
else:
    print("granted")
"""


def _other_process_gets_exclusive(db: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", TRY_EXCLUSIVE, str(db)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_checking_an_open_database_keeps_our_locks(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    keep_sqlite_private(f"sqlite+aiosqlite:///{db}")
    assert db.stat().st_mode & 0o777 == 0o600
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("CREATE TABLE t (x)")
        con.execute("BEGIN")
        con.execute("SELECT * FROM t").fetchall()  # a read lock, held until the end
        assert _other_process_gets_exclusive(db).startswith("refused")
        # A second engine built for the same file in this process (the CLI does it, tests do).
        keep_sqlite_private(f"sqlite+aiosqlite:///{db}")
        assert _other_process_gets_exclusive(db).startswith("refused")
        con.execute("COMMIT")
    finally:
        con.close()
    assert _other_process_gets_exclusive(db) == "granted"
