"""A real hub on a real socket, in-process: uvicorn serving ``create_app`` on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher

from orchestratia.agent.terminal.tmux import TmuxServer
from orchestratia.hub import security
from orchestratia.hub.app import create_app
from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.services.access import accounts
from orchestratia.hub.settings import HubSettings
from orchestratia.hub.state import HubState
from tests.support import wait_until
from tests.unit.agent_fakes import private_tmux

PASSWORD = "correct horse battery"


@dataclass
class RunningHub:
    url: str
    settings: HubSettings
    server: uvicorn.Server

    @property
    def state(self) -> HubState:
        app: Any = self.server.config.app
        state: HubState = app.state.hub
        return state

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]


async def start_hub(settings: HubSettings) -> tuple[RunningHub, asyncio.Task[None]]:
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        ws="websockets-sansio",
        ws_max_size=settings.ws_transport_max_bytes(),
        ws_per_message_deflate=settings.ws_compression,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,  # as ``orchestratia hub serve``: the app decides whom to believe
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until(
        lambda: server.started or task.done(), timeout=30, message="the hub to start", interval=0.01
    )
    if task.done():
        await task  # it stopped before starting: raise why
    port = server.servers[0].sockets[0].getsockname()[1]
    return RunningHub(f"http://127.0.0.1:{port}", settings, server), task


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> HubSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": "test-secret-key-not-for-production",
        "restart_grace": 0,
        "heartbeat_timeout": 3,
        "liveness_sweep_interval": 0.2,
    }
    values.update(overrides)
    return HubSettings(**values)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at minimal cost: the default parameters take ~0.2 s per hash and verify,
    which dominates tests that only need a logged-in user."""
    monkeypatch.setattr(
        security, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    """Override in a test module to tune the hub's settings."""
    return {}


@pytest.fixture
async def hub(
    database_url: str, tmp_path: Path, hub_overrides: dict[str, Any]
) -> AsyncIterator[RunningHub]:
    running, task = await start_hub(make_settings(database_url, tmp_path / "data", **hub_overrides))
    try:
        yield running
    finally:
        running.server.should_exit = True
        await asyncio.wait_for(task, 10)


async def create_admin(hub: RunningHub, email: str, tenant: str) -> None:
    engine = build_engine(hub.settings.resolved_database_url())
    try:
        async with build_sessionmaker(engine)() as db:
            await accounts.create_admin(db, email, PASSWORD, tenant, "unlimited")
    finally:
        await engine.dispose()


async def bearer_client(hub: RunningHub, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=hub.url, timeout=10)
    res = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert res.status_code == 200, res.text
    client.cookies.clear()  # act as a pure API client
    client.headers["Authorization"] = f"Bearer {res.json()['access_token']}"
    return client


@pytest.fixture
async def admin(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    """Bearer-authenticated client for the admin of tenant A."""
    await create_admin(hub, "alice@a.example", "tenant-a")
    client = await bearer_client(hub, "alice@a.example")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def project_id(admin: httpx.AsyncClient) -> str:
    res = await admin.post("/api/v1/projects", json={"name": "alpha"})
    assert res.status_code == 201, res.text
    pid: str = res.json()["id"]
    return pid


async def registration_token(client: httpx.AsyncClient, project_id: str) -> str:
    res = await client.post("/api/v1/servers/tokens", json={"project_id": project_id})
    assert res.status_code == 201, res.text
    token: str = res.json()["token"]
    return token


def register_body(token: str, machine_id: str = "machine-1", **extra: Any) -> dict[str, Any]:
    return {
        "name": "build-1",
        "hostname": "build-1.local",
        "ip": "0.0.0.0",
        "os": "linux",
        "repos": {"api": "/srv/api"},
        "system_info": {"cpu_percent": 12.5, "memory_percent": 40.0, "disk_percent": 70.0},
        "registration_token": token,
        "machine_id": machine_id,
        "mac_address": "00:11:22:33:44:55",
        **extra,
    }


async def register_server(
    client: httpx.AsyncClient, project_id: str, machine_id: str = "machine-1"
) -> dict[str, Any]:
    token = await registration_token(client, project_id)
    res = await client.post("/api/v1/servers/register", json=register_body(token, machine_id))
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


@pytest.fixture
def socket_name(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a private tmux server for this test (see ``private_tmux``)."""
    with private_tmux(monkeypatch) as name:
        yield name


@pytest.fixture
def tmux(socket_name: str) -> TmuxServer:
    """That private tmux server, driven through the daemon's ``TmuxServer``."""
    return TmuxServer(socket_name)
