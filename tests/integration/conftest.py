"""Fixtures of the integration tests: a hub in-process on each database, an admin, a project,
a private tmux server, a live session with a fake daemon."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from orchestratia.agent.terminal.tmux import TmuxServer
from orchestratia.hub import security
from orchestratia.hub.redis_bus import RedisBus
from tests.integration.bus_support import BUS_KEY, REDIS_URL
from tests.integration.hub_setup import bearer_client, create_admin, register_server
from tests.integration.running_hub import RunningHub, make_settings, serving
from tests.integration.viewer_support import Live, live_session
from tests.unit.agent_fakes import private_tmux


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
    async with serving(make_settings(database_url, tmp_path / "data", **hub_overrides)) as running:
        yield running


@pytest.fixture
async def replica_b(
    hub: RunningHub, database_url: str, tmp_path: Path, hub_overrides: dict[str, Any]
) -> AsyncIterator[RunningHub]:
    """A second hub on the first one's database (another replica), with its own data dir and
    the same settings."""
    settings = make_settings(database_url, tmp_path / "replica-b", **hub_overrides)
    async with serving(settings) as running:
        yield running


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


@pytest.fixture
async def server(admin: httpx.AsyncClient, project_id: str) -> dict[str, Any]:
    """A server registered to the project (its row and API key); no daemon connected."""
    return await register_server(admin, project_id)


@pytest.fixture
def socket_name(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a private tmux server for this test (see ``private_tmux``)."""
    with private_tmux(monkeypatch) as name:
        yield name


@pytest.fixture
def tmux(socket_name: str) -> TmuxServer:
    """That private tmux server, driven through the daemon's ``TmuxServer``."""
    return TmuxServer(socket_name)


@pytest.fixture
async def live(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> AsyncIterator[Live]:
    """A running session on a fake daemon, as a viewer would join it."""
    async with live_session(hub, admin, project_id) as running:
        yield running


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RedisBus, RedisBus, str]]:
    """Two started Redis buses of one cluster (replica-a, replica-b) and their prefix."""
    prefix = f"u{uuid.uuid4().hex[:12]}"
    a = RedisBus(REDIS_URL, prefix, BUS_KEY, "replica-a")
    b = RedisBus(REDIS_URL, prefix, BUS_KEY, "replica-b")
    await a.start()
    await b.start()
    try:
        yield a, b, prefix
    finally:
        await a.close()
        await b.close()
