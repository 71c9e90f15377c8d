"""Socket heartbeats are acked at once and written in one batch per hub process
(``fleet.flush_heartbeats``); the batch never revives a server whose socket has closed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from orchestratia.hub.actions import fleet
from orchestratia.hub.db.fleet_models import ServerSample
from orchestratia.hub.db.models import Server
from tests.integration.helpers import (
    FakeDaemon,
    close_code,
    recv_json,
    server_row,
    wait_for_status,
    ws_connect,
)
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub
from tests.support import wait_until


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    # The batch is written only when a test says so; fake daemons are quiet for a minute.
    return {"heartbeat_write_interval": 10, "heartbeat_timeout": 60}


async def _samples(hub: RunningHub) -> int:
    async with hub.state.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(ServerSample)) or 0)


async def test_heartbeats_are_acked_at_once_and_written_together(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    servers = [await register_server(admin, project_id, f"machine-{i}") for i in range(3)]
    async with contextlib.AsyncExitStack() as stack:
        daemons = [
            await stack.enter_async_context(FakeDaemon.connect(hub, s["api_key"])) for s in servers
        ]
        before = [await server_row(admin, s["id"]) for s in servers]
        for i, daemon in enumerate(daemons):
            await daemon.send({"type": "heartbeat", "system_info": {"cpu_percent": 10.0 + i}})
            await daemon.expect("heartbeat_ack")
        # Acked, not yet written.
        assert len(hub.state.heartbeats) == 3
        assert [await server_row(admin, s["id"]) for s in servers] == before
        await fleet.flush_heartbeats(hub.state)
        assert len(hub.state.heartbeats) == 0
        for i, (server, old) in enumerate(zip(servers, before, strict=True)):
            row = await server_row(admin, server["id"])
            assert row["status"] == "online"
            assert row["system_info"] == {"cpu_percent": 10.0 + i}
            assert row["last_seen"] > old["last_seen"]
        assert await _samples(hub) == 3  # one load sample each


async def test_a_closed_sockets_heartbeat_does_not_bring_its_server_back(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        await daemon.send({"type": "heartbeat", "system_info": {"cpu_percent": 5.0}})
        await daemon.expect("heartbeat_ack")
        assert len(hub.state.heartbeats) == 1
    await wait_for_status(admin, server["id"], "disconnected")
    assert len(hub.state.heartbeats) == 0  # the close dropped it
    # A batch taken just before the close, written just after it.
    hub.state.heartbeats.add(server["id"], {"cpu_percent": 5.0})
    await fleet.flush_heartbeats(hub.state)
    row = await server_row(admin, server["id"])
    assert row["status"] == "disconnected"
    assert row["system_info"] != {"cpu_percent": 5.0}


async def test_a_live_server_marked_offline_elsewhere_comes_back_online(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        # Another replica's sweep, say, called it offline while its socket is open here.
        async with hub.state.sessionmaker() as db:
            await db.execute(
                update(Server).where(Server.id == server["id"]).values(status="disconnected")
            )
            await db.commit()
        await daemon.send({"type": "heartbeat", "system_info": {}})
        await daemon.expect("heartbeat_ack")
        await fleet.flush_heartbeats(hub.state)
        assert (await server_row(admin, server["id"]))["status"] == "online"


async def test_a_hello_that_changes_nothing_is_written_with_the_heartbeats(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:  # hello: version 9.9.9
        assert (await server_row(admin, server["id"]))["agent_version"] == "9.9.9"
    async with FakeDaemon.connect(hub, server["api_key"], hello=False) as daemon:
        hello = {"type": "hello", "version": "9.9.9", "sessions": []}
        await daemon.send({**hello, "system_info": {"cpu_percent": 7.0}})
        await daemon.barrier()
        assert len(hub.state.heartbeats) == 1  # the same agent: only its load is new
        await fleet.flush_heartbeats(hub.state)
        assert (await server_row(admin, server["id"]))["system_info"] == {"cpu_percent": 7.0}
        # An upgraded agent shows at once, without waiting for the batch.
        await daemon.send({**hello, "version": "10.0.0", "system_info": {"cpu_percent": 8.0}})
        await daemon.barrier()
        row = await server_row(admin, server["id"])
        assert (row["agent_version"], row["system_info"]) == ("10.0.0", {"cpu_percent": 8.0})
        assert hub.state.heartbeats.take() == {server["id"]: None}  # the barrier's ping only


@pytest.mark.parametrize(
    "hub_overrides",
    [{"max_concurrent_auth": 1, "auth_queue_timeout": 0.3, "heartbeat_timeout": 60}],
)
async def test_an_auth_that_waited_past_its_daemons_patience_is_told_to_retry(
    hub: RunningHub, server: dict[str, Any]
) -> None:
    slots = hub.state.auth_slots
    auth = json.dumps({"type": "auth", "api_key": server["api_key"], "protocol": 2})
    async with ws_connect(hub.ws_url + "/ws/server") as ws:
        async with slots:  # every slot busy: a storm of reconnects ahead of this one
            await ws.send(auth)
            await wait_until(lambda: bool(slots._waiters), message="auth queued")
            await asyncio.sleep(0.4)  # the time it waits is the point: past auth_queue_timeout
        frame = await recv_json(ws)
        assert (frame["type"], frame["code"], frame["fatal"]) == ("error", "busy", True)
        assert await close_code(ws) == 1013
    async with ws_connect(hub.ws_url + "/ws/server") as ws:
        async with slots:  # a short wait is served
            await ws.send(auth)
            await wait_until(lambda: bool(slots._waiters), message="auth queued")
        assert (await recv_json(ws))["type"] == "auth_ok"
