"""The audit chain from outside the hub: ``orchestratia hub audit verify`` (the real command)
names the first row edited or missing on SQLite; on PostgreSQL the edit itself is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from orchestratia.hub.db.models import AuditEvent
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services import audit
from tests.integration.helpers import audit_rows
from tests.integration.hub_cli import hub_cli
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub

# Each of these tests is about one backend: run it there only, rather than skip it on the other.
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def sqlite_path(hub: RunningHub) -> Path:
    """The database file, edited with SQLite's own client."""
    return Path(hub.settings.resolved_database_url().split(":///", 1)[1])


async def _history(admin: httpx.AsyncClient, project_id: str) -> None:
    """A few events on top of the fixtures' logins and project: tokens, a registration."""
    await register_server(admin, project_id)
    res = await admin.post("/api/v1/servers/tokens", json={"project_id": project_id})
    assert res.status_code == 201


@ON_SQLITE
async def test_verify_names_an_edited_row_and_a_deleted_one(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    db_file = sqlite_path(hub)
    await _history(admin, project_id)
    rows = await audit_rows(hub)
    assert len(rows) >= 5
    code, out = await hub_cli(hub, "audit", "verify")
    assert code == 0, out
    assert f"audit chain OK: {len(rows)} rows checked" in out

    victim = rows[2]
    with sqlite3.connect(db_file) as con:
        con.execute(
            "UPDATE audit_events SET actor_id = 'mallory@a.example' WHERE id = ?", (victim.id,)
        )
    code, out = await hub_cli(hub, "audit", "verify")
    assert code == 1, out
    assert f"row {victim.id} (" in out and victim.action in out
    assert "content does not match its hash" in out
    assert "after 2 good rows" in out

    with sqlite3.connect(db_file) as con:
        con.execute(
            "UPDATE audit_events SET actor_id = ? WHERE id = ?", (victim.actor_id, victim.id)
        )
    code, out = await hub_cli(hub, "audit", "verify")
    assert code == 0, out  # restoring the content restores the proof

    # Every column counts, the request id too.
    with sqlite3.connect(db_file) as con:
        con.execute("UPDATE audit_events SET request_id = 'forged' WHERE id = ?", (victim.id,))
    code, out = await hub_cli(hub, "audit", "verify")
    assert code == 1 and f"row {victim.id} (" in out, out
    with sqlite3.connect(db_file) as con:
        con.execute(
            "UPDATE audit_events SET request_id = ? WHERE id = ?", (victim.request_id, victim.id)
        )

    middle, after = rows[3], rows[4]
    with sqlite3.connect(db_file) as con:
        con.execute("DELETE FROM audit_events WHERE id = ?", (middle.id,))
    code, out = await hub_cli(hub, "audit", "verify")
    assert code == 1, out
    assert f"row {after.id} (" in out and after.action in out
    assert "does not link to the row before it" in out


@ON_SQLITE
async def test_verify_walks_in_batches_and_stops_at_the_first_break(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    await _history(admin, project_id)
    rows = await audit_rows(hub)
    async with hub.state.sessionmaker() as db:
        report = await audit.verify_chain(db, batch=2)
    assert report.ok and report.checked == len(rows)
    async with hub.state.sessionmaker() as db:
        # The row's own hash rewritten: its content no longer matches it, and the next row's
        # link would not either; the first of the two is named.
        await db.execute(
            update(AuditEvent).where(AuditEvent.id == rows[3].id).values(hash="f" * 64)
        )
        await db.commit()
    async with hub.state.sessionmaker() as db:
        report = await audit.verify_chain(db, batch=2)
    assert report.first_break is not None
    assert (report.first_break.id, report.first_break.reason) == (rows[3].id, "content")
    assert report.checked == 4


@ON_POSTGRES
async def test_postgres_refuses_to_change_or_remove_audit_rows(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    await _history(admin, project_id)
    [row, *_] = await audit_rows(hub)
    for statement in (
        update(AuditEvent).where(AuditEvent.id == row.id).values(actor_id="mallory@a.example"),
        delete(AuditEvent).where(AuditEvent.id == row.id),
        # Even a write the chain would accept (the same value) is refused: no rewriting at all.
        text("UPDATE audit_events SET action = action"),
    ):
        async with hub.state.sessionmaker() as db:
            with pytest.raises(DBAPIError, match="append-only"):
                await db.execute(statement)
            await db.rollback()
    assert next(r.actor_id for r in await audit_rows(hub)) == row.actor_id

    # The hub itself never needs to: it goes on recording, and the chain holds.
    res = await admin.post("/api/v1/tasks", json={"project_id": project_id, "title": "still works"})
    assert res.status_code == 201, res.text
    assert await audit_rows(hub, "task.created")
    code, out = await hub_cli(hub, "audit", "verify")
    assert code == 0, out


async def test_rows_hashed_before_request_ids_were_covered_still_verify(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    [*_, last] = await audit_rows(hub)
    async with hub.state.sessionmaker() as db:
        old = AuditEvent(
            tenant_id=last.tenant_id, actor_type="user", actor_id="alice@a.example",
            action="auth.login", request_id="r-1", details={}, created_at=utcnow(),
            prev_hash=last.hash,
        )  # fmt: skip
        old.hash = audit._digest(old.prev_hash, audit._payload(old, legacy=True))
        db.add(old)
        await db.commit()
    async with hub.state.sessionmaker() as db:
        assert (await audit.verify_chain(db)).ok
    res = await admin.post("/api/v1/servers/tokens", json={"project_id": project_id})
    assert res.status_code == 201  # a new row links to the old-style one
    async with hub.state.sessionmaker() as db:
        report = await audit.verify_chain(db)
    assert report.ok, report
