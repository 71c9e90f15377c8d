"""``/healthz`` and ``/readyz`` of a real hub process on PostgreSQL: ready goes 503 when its
database goes away or falls behind the migrations, and back to 200 when that is repaired."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from orchestratia.hub.db import migrate
from orchestratia.hub.settings import normalize_database_url
from tests.e2e.processes import HubProcess, base_env
from tests.support import POSTGRES_URL, free_port, wait_sync

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def admin_sql(sql: str) -> None:
    async def run() -> None:
        conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), 10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def throwaway_database() -> Iterator[str]:
    name = f"readyz_{uuid.uuid4().hex[:10]}"
    admin_sql(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def probe(hub: HubProcess, path: str) -> tuple[int, dict[str, Any]]:
    with httpx.Client(base_url=hub.url, timeout=10) as client:
        res = client.get(path)
    body: dict[str, Any] = res.json()
    return res.status_code, body


def readiness(hub: HubProcess, status: int) -> dict[str, Any] | None:
    code, body = probe(hub, "/readyz")
    return body if code == status else None


def test_readyz_follows_the_database(tmp_path: Path, throwaway_database: str) -> None:
    url = normalize_database_url(f"{POSTGRES_URL.rsplit('/', 1)[0]}/{throwaway_database}")
    env = base_env(tmp_path / "hub") | {
        "ORCHESTRATIA_DATABASE_URL": url,
        "ORCHESTRATIA_READINESS_TIMEOUT": "2",
    }
    hub = HubProcess(tmp_path / "hub", free_port(), env, tmp_path / "hub.log")
    hub.start()  # migrates the empty database first
    try:
        ready = wait_sync(lambda: readiness(hub, 200), 10, "ready on a migrated database")
        assert ready["status"] == "ok"
        assert ready["checks"]["database"]["ok"] and ready["checks"]["migrations"]["ok"]
        assert probe(hub, "/healthz") == (200, {"status": "ok"})

        # The database disappears under the running hub.
        admin_sql(f'DROP DATABASE "{throwaway_database}" WITH (FORCE)')
        down = wait_sync(lambda: readiness(hub, 503), 10, "503 once the database is gone")
        assert down["status"] == "unavailable"
        assert down["checks"]["database"]["ok"] is False
        assert "does not exist" in down["checks"]["database"]["detail"], down
        # Still alive: only readiness depends on the database.
        assert probe(hub, "/healthz") == (200, {"status": "ok"})

        admin_sql(f'CREATE DATABASE "{throwaway_database}"')
        migrated = hub.cli("hub", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        wait_sync(lambda: readiness(hub, 200), 10, "ready again after re-creating it")

        # Migrations one revision behind what this hub ships.
        migrate.downgrade(url, "-1")
        behind = wait_sync(lambda: readiness(hub, 503), 10, "503 while migrations are behind")
        assert behind["checks"]["database"]["ok"] is True
        migrations = behind["checks"]["migrations"]
        assert migrations["ok"] is False and "orchestratia hub migrate" in migrations["detail"]
        migrate.upgrade(url)
        wait_sync(lambda: readiness(hub, 200), 10, "ready after migrating to head")
    finally:
        hub.kill(signal.SIGTERM)
    # Successful probes stay out of the access log; the failed readiness checks are there.
    log = hub.log.read_text()
    assert '/readyz HTTP/1.1" 503' in log, log[-3000:]
    assert '/readyz HTTP/1.1" 200' not in log and "/healthz" not in log, log[-3000:]
