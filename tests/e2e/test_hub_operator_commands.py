"""Issue 16, build 5 on a running hub: ``hub backup`` copies the live SQLite database (the hub
and a daemon writing meanwhile) into a private file holding the same rows; ``hub doctor`` on
that healthy hub exits 0 and measures the connected daemon's clock."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.e2e.processes import HubProcess
from tests.e2e.terminal_support import Fleet

pytestmark = pytest.mark.e2e

# Tables whose rows the idle hub does not touch; ``servers`` is rewritten by every heartbeat.
STABLE = ("tenants", "users", "projects", "registration_tokens", "audit_events")


def rows(db: Path, table: str, up_to_audit: int | None = None) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        where = f" WHERE id <= {up_to_audit}" if table == "audit_events" and up_to_audit else ""
        return conn.execute(f"SELECT * FROM {table}{where} ORDER BY 1").fetchall()  # noqa: S608
    finally:
        conn.close()


def doctor(hub: HubProcess, **env: str) -> tuple[int, list[dict[str, str]]]:
    done = HubProcess(hub.data_dir, hub.port, hub.env | env, hub.log).cli("hub", "doctor", "--json")
    return done.returncode, json.loads(done.stdout)


def test_backup_of_a_running_hub_holds_the_same_rows(fleet: Fleet, tmp_path: Path) -> None:
    for name in ("alpha", "beta", "gamma"):
        assert fleet.api.post("/api/v1/projects", json={"name": name}).status_code == 201
    out = tmp_path / "backups"
    out.mkdir()
    done = fleet.hub.cli("hub", "backup", "--out", str(out))
    assert done.returncode == 0, done.stderr
    found = re.search(r"to (\S+) \(([\d,]+) bytes, mode 600\)", done.stdout)
    assert found, done.stdout
    copy = Path(found.group(1))
    assert copy.parent == out and re.fullmatch(r"hub-\d{8}T\d{6}Z\.db", copy.name)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert copy.stat().st_size == int(found.group(2).replace(",", ""))
    # One self-contained file that opens on its own.
    assert sorted(p.name for p in out.iterdir()) == [copy.name]
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    last_audit = conn.execute("SELECT max(id) FROM audit_events").fetchone()[0]
    conn.close()
    live = fleet.hub.data_dir / "hub.db"
    for table in STABLE:
        assert rows(copy, table) == rows(live, table, last_audit), table
    names = {r[0] for r in sqlite3.connect(copy).execute("SELECT name FROM projects")}
    assert {"alpha", "beta", "gamma", "terminals"} <= names
    assert [r[0] for r in rows(copy, "servers")] == [r[0] for r in rows(live, "servers")]
    # Never over an earlier backup.
    again = fleet.hub.cli("hub", "backup", "--out", str(copy))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_doctor_on_a_healthy_hub_with_a_daemon(fleet: Fleet) -> None:
    code, findings = doctor(fleet.hub)
    by_check = {f["check"]: f for f in findings}
    assert code == 0, findings
    assert not [f for f in findings if f["status"] == "fail"]
    for check in ("config", "data dir", "encryption keys", "database", "migrations", "TLS"):
        assert by_check[check]["status"] == "ok", by_check[check]
    # The daemon's heartbeats carry its clock; same machine, so next to no skew.
    clocks = by_check["daemon clocks"]
    assert clocks["status"] == "ok"
    skew = re.search(r"1 daemon\(s\), largest skew ([+-][\d.]+)s", clocks["detail"])
    assert skew and abs(float(skew.group(1))) < 5, clocks


def test_doctor_fails_on_a_broken_database_url(hub_process: HubProcess) -> None:
    code, findings = doctor(
        hub_process, ORCHESTRATIA_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none"
    )
    assert code == 1
    database = next(f for f in findings if f["check"] == "database")
    assert database["status"] == "fail"
    assert database["detail"].startswith("cannot reach postgresql+asyncpg://nobody@127.0.0.1:1")
    # The text form says it in one line (wide terminal) and exits non-zero too.
    wide = hub_process.env | {
        "ORCHESTRATIA_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "COLUMNS": "250",
    }
    text = HubProcess(hub_process.data_dir, 0, wide, hub_process.log).cli("hub", "doctor")
    assert text.returncode == 1
    assert re.search(r"database\s+│ fail\s+│ cannot reach postgresql", text.stdout), text.stdout
