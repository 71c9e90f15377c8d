"""First steps on a running hub: an admin and its API client, a second tenant, plain users, a
server registered with a token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from orchestratia.hub.db.engine import build_engine, build_sessionmaker
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import accounts
from tests.integration.running_hub import RunningHub

PASSWORD = "correct horse battery"


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


async def tenant_b(hub: RunningHub) -> httpx.AsyncClient:
    """The admin of a second tenant, as a bearer client."""
    await create_admin(hub, "bob@b.example", "tenant-b")
    return await bearer_client(hub, "bob@b.example")


async def add_user(
    hub: RunningHub,
    admin: httpx.AsyncClient,
    email: str,
    project_id: str | None = None,
    role: str | None = None,
) -> httpx.AsyncClient:
    """A plain (non-admin) user of the admin's tenant, logged in as a bearer client, with
    ``role`` on the project (None: no membership)."""
    me = await admin.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    async with hub.state.sessionmaker() as db:
        await accounts.create_user(
            db, me.json()["tenant_id"], email, PASSWORD, audit.Actor("system")
        )
    if role is not None:
        assert project_id is not None, "a role is on a project"
        res = await admin.post(
            f"/api/v1/projects/{project_id}/members", json={"email": email, "role": role}
        )
        assert res.status_code == 201, res.text
    return await bearer_client(hub, email)


@dataclass(frozen=True)
class Cast:
    """A client for each way a person can stand to one project: its three roles, a user of the
    same tenant outside it, and the other tenant's admin."""

    owner: httpx.AsyncClient
    member: httpx.AsyncClient
    viewer: httpx.AsyncClient
    outsider: httpx.AsyncClient
    other_tenant: httpx.AsyncClient


@asynccontextmanager
async def cast_of(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> AsyncIterator[Cast]:
    cast = Cast(
        await add_user(hub, admin, "olga@a.example", project_id, "owner"),
        await add_user(hub, admin, "mike@a.example", project_id, "member"),
        await add_user(hub, admin, "vera@a.example", project_id, "viewer"),
        await add_user(hub, admin, "nora@a.example"),
        await tenant_b(hub),
    )
    try:
        yield cast
    finally:
        for client in (cast.owner, cast.member, cast.viewer, cast.outsider, cast.other_tenant):
            await client.aclose()


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
