"""Liveness sweeps: silent servers go `disconnected`, except during the post-restart grace."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from orchestratia.hub.db.models import Server
from orchestratia.hub.db.types import utcnow
from tests.integration.hub_setup import bearer_client, create_admin, register_server
from tests.integration.running_hub import RunningHub, make_settings, start_hub
from tests.support import wait_until


async def _age_server(hub: RunningHub, server_id: str, seconds: float, protocol: int) -> None:
    async with hub.state.sessionmaker() as db:
        await db.execute(
            update(Server)
            .where(Server.id == server_id)
            .values(
                status="online",
                protocol=protocol,
                last_seen_at=utcnow() - timedelta(seconds=seconds),
            )
        )
        await db.commit()


async def _status(client: httpx.AsyncClient, server_id: str) -> str:
    res = await client.get(f"/api/v1/servers/{server_id}")
    assert res.status_code == 200, res.text
    status: str = res.json()["status"]
    return status


async def test_silent_server_is_marked_disconnected(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    server = await register_server(admin, project_id)
    await _age_server(hub, server["id"], hub.settings.heartbeat_timeout + 1, protocol=2)
    await wait_until(lambda: _is(admin, server["id"], "disconnected"), timeout=3, message="sweep")


async def test_legacy_servers_get_the_longer_timeout(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    server = await register_server(admin, project_id)
    # Older than the protocol-2 timeout but within the legacy one: still online.
    await _age_server(hub, server["id"], hub.settings.heartbeat_timeout + 1, protocol=1)
    recent_sweeps = hub.settings.liveness_sweep_interval * 5
    with pytest.raises(AssertionError):
        await wait_until(lambda: _is(admin, server["id"], "disconnected"), timeout=recent_sweeps)
    await _age_server(hub, server["id"], hub.settings.legacy_heartbeat_timeout + 1, protocol=1)
    await wait_until(lambda: _is(admin, server["id"], "disconnected"), timeout=3)


async def test_restart_grace_keeps_servers_online(database_url: str, tmp_path: Path) -> None:
    """A freshly started hub does not call anyone offline until daemons had time to reconnect."""
    settings = make_settings(database_url, tmp_path / "data", restart_grace=30)
    hub, task = await start_hub(settings)
    try:
        await create_admin(hub, "alice@a.example", "tenant-a")
        client = await bearer_client(hub, "alice@a.example")
        try:
            pid = (await client.post("/api/v1/projects", json={"name": "p"})).json()["id"]
            server = await register_server(client, pid)
            await _age_server(hub, server["id"], 3600, protocol=2)
            with pytest.raises(AssertionError):
                await wait_until(
                    lambda: _is(client, server["id"], "disconnected"),
                    timeout=settings.liveness_sweep_interval * 5,
                )
        finally:
            await client.aclose()
    finally:
        hub.server.should_exit = True
        await task


async def _is(client: httpx.AsyncClient, server_id: str, status: str) -> bool:
    return await _status(client, server_id) == status
