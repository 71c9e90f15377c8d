"""``hub backup`` and ``hub doctor`` where there is nothing to copy: PostgreSQL gets the
pg_dump command with the password hidden; a SQLite file that is not there is reported, not
created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def hub(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATIA_")}
    return subprocess.run(
        [sys.executable, "-m", "orchestratia", "hub", *args],
        env=full | env | {"COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_postgres_backup_prints_pg_dump_without_the_password(tmp_path: Path) -> None:
    done = hub(
        "backup",
        ORCHESTRATIA_DATABASE_URL="postgresql://orc:pa55word@db.internal:5433/hub",
        ORCHESTRATIA_DATA_DIR=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "pa55word" not in done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if "pg_dump" in line.split()[:1])
    assert line.split()[1] == "--format=custom"
    assert line.endswith("'postgresql://orc:***@db.internal:5433/hub'")
    assert list(tmp_path.iterdir()) == []


def test_missing_sqlite_database_is_reported_not_created(tmp_path: Path) -> None:
    db = tmp_path / "absent.db"
    url = f"sqlite:///{db}"
    backup = hub("backup", ORCHESTRATIA_DATABASE_URL=url, ORCHESTRATIA_DATA_DIR=str(tmp_path))
    assert backup.returncode == 1 and f"no hub database at {db}" in backup.stderr
    doctor = hub("doctor", ORCHESTRATIA_DATABASE_URL=url, ORCHESTRATIA_DATA_DIR=str(tmp_path))
    assert doctor.returncode == 1
    assert f"no SQLite file at {db}" in doctor.stdout
    assert not db.exists()
