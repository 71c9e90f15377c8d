"""``/healthz`` and ``/readyz`` of an in-process hub on each database (the outage cases run
against a real hub process on PostgreSQL: tests/e2e/test_readiness.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from orchestratia.hub.services.readiness import packaged_head
from orchestratia.hub.settings import HubSettings
from tests.integration.running_hub import RunningHub, make_settings, serving


async def test_probes_on_a_migrated_database(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        live = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ok",
        "checks": {
            "database": {"ok": True, "detail": "answers"},
            "migrations": {"ok": True, "detail": f"at {packaged_head()}"},
        },
    }


async def probe(settings: HubSettings) -> tuple[httpx.Response, httpx.Response]:
    """``/readyz`` then ``/healthz`` of a hub started on ``settings`` for just that."""
    async with (
        serving(settings) as running,
        httpx.AsyncClient(base_url=running.url, timeout=10) as client,
    ):
        return await client.get("/readyz"), await client.get("/healthz")


async def test_unmigrated_database_is_not_ready(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", tmp_path / "data")
    ready, live = await probe(settings)
    assert live.status_code == 200
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["migrations"] == {
        "ok": False,
        "detail": f"database at no revision, this hub needs {packaged_head()}; "
        "run `orchestratia hub migrate`",
    }


async def test_a_database_that_does_not_answer_is_not_ready(tmp_path: Path) -> None:
    # A listener that accepts connections and never says a word: what a hung PostgreSQL (or a
    # black-holed route) looks like to the hub.
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    settings = make_settings(
        f"postgresql://nobody@127.0.0.1:{port}/hub",
        tmp_path / "data",
        readiness_timeout=0.5,
        liveness_sweep_interval=3600,
    )
    try:
        ready, live = await probe(settings)
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "database": {"ok": False, "detail": "no answer to SELECT 1 within 0.5s"},
        "migrations": {"ok": False, "detail": "not checked"},
    }
    assert accepted, "the hub never tried the database"
