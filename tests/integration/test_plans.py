"""Plans and usage: every limit refuses with a 402 naming the limit and the plan, the usage
numbers are right and the tenant's own, and ``hub set-plan`` changes what is enforced."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.integration.helpers import FakeDaemon, audit_rows, login_cookie
from tests.integration.hub_cli import run_cli
from tests.integration.hub_setup import (
    add_user,
    register_body,
    register_server,
    registration_token,
    tenant_b,
)
from tests.integration.running_hub import RunningHub


async def usage_of(client: httpx.AsyncClient) -> tuple[str, dict[str, tuple[int | None, int]]]:
    res = await client.get("/api/v1/usage")
    assert res.status_code == 200, res.text
    body = res.json()
    return body["plan"], {item["name"]: (item["limit"], item["used"]) for item in body["limits"]}


def refused(res: httpx.Response, limit: str, plan: str = "free") -> None:
    assert res.status_code == 402, res.text
    detail = res.json()["detail"]
    assert f"the '{plan}' plan allows" in detail and limit in detail, detail


async def register(client: httpx.AsyncClient, project_id: str, machine_id: str) -> httpx.Response:
    token = await registration_token(client, project_id)
    return await client.post("/api/v1/servers/register", json=register_body(token, machine_id))


async def set_plan(hub: RunningHub, tenant: str, plan: str) -> None:
    done = await run_cli(hub, "hub", "set-plan", tenant, plan)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_free_plan_limits_usage_and_set_plan(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    await set_plan(hub, "tenant-a", "free")
    first = await admin.post("/api/v1/projects", json={"name": "alpha"})
    assert first.status_code == 201, first.text
    project_id = first.json()["id"]
    refused(await admin.post("/api/v1/projects", json={"name": "beta"}), "1 project ")

    server = await register_server(admin, project_id, "machine-1")
    # The same machine registering again keeps its row: no second server, no refusal.
    again = await register(admin, project_id, "machine-1")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == server["id"]
    refused(await register(admin, project_id, "machine-2"), "1 server ")

    await (await add_user(hub, admin, "carol@a.example", project_id, "member")).aclose()
    viewer = await add_user(hub, admin, "dave@a.example", project_id, "viewer")
    # Re-registering gave the machine a new key.
    async with FakeDaemon.connect(hub, again.json()["api_key"]) as daemon:
        for name in ("one", "two", "three"):
            body = {"server_id": daemon.server_id, "name": name, "working_directory": "/srv"}
            res = await admin.post("/api/v1/sessions", json=body)
            assert res.status_code == 201, res.text
        body = {"server_id": daemon.server_id, "name": "four", "working_directory": "/srv"}
        refused(await admin.post("/api/v1/sessions", json=body), "3 concurrent sessions")

        # Any member reads the same numbers; a viewer too.
        for client in (admin, viewer):
            plan, used = await usage_of(client)
            assert plan == "free"
            assert used == {
                "projects": (1, 1),
                "servers": (1, 1),
                "concurrent_sessions": (3, 3),
                "seats": (3, 3),
            }
        await viewer.aclose()

    await set_plan(hub, hub_tenant_id := await tenant_id(admin), "unlimited")
    async with FakeDaemon.connect(hub, again.json()["api_key"]) as daemon:
        res = await admin.post("/api/v1/sessions", json=body)
        assert res.status_code == 201, res.text
    assert (await admin.post("/api/v1/projects", json={"name": "beta"})).status_code == 201
    assert (await register(admin, project_id, "machine-2")).status_code == 200
    plan, used = await usage_of(admin)
    assert plan == "unlimited"
    assert used["projects"] == (None, 2) and used["servers"] == (None, 2)

    changes = await audit_rows(hub, "tenant.plan_changed")
    assert [(e.actor_type, e.details) for e in changes] == [
        ("system", {"before": "unlimited", "after": "free"}),
        ("system", {"before": "free", "after": "unlimited"}),
    ]
    assert {e.tenant_id for e in changes} == {hub_tenant_id}


async def tenant_id(client: httpx.AsyncClient) -> str:
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    value: str = me.json()["tenant_id"]
    return value


async def test_usage_is_the_callers_tenant_only(hub: RunningHub, admin: httpx.AsyncClient) -> None:
    assert (await admin.post("/api/v1/projects", json={"name": "alpha"})).status_code == 201
    bob = await tenant_b(hub)
    try:
        await set_plan(hub, "tenant-b", "free")
        plan, used = await usage_of(bob)
        assert plan == "free"
        assert used["projects"] == (1, 0) and used["seats"] == (3, 1)
        plan, used = await usage_of(admin)
        assert plan == "unlimited" and used["projects"] == (None, 1)
        # Nothing in the request picks the tenant.
        other = await bob.get("/api/v1/usage", params={"tenant_id": await tenant_id(admin)})
        assert other.json()["plan"] == "free"
    finally:
        await bob.aclose()
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        assert (await anonymous.get("/api/v1/usage")).status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tenant-a", "gold"), "unknown plan 'gold'; plans: free, unlimited"),
        (("no-such-tenant", "free"), "no tenant has the id or name 'no-such-tenant'"),
    ],
)
async def test_set_plan_refuses_an_unknown_plan_or_tenant(
    hub: RunningHub, admin: httpx.AsyncClient, args: tuple[str, str], message: str
) -> None:
    done = await run_cli(hub, "hub", "set-plan", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    plan, _ = await usage_of(admin)
    assert plan == "unlimited"
    assert await audit_rows(hub, "tenant.plan_changed") == []


async def test_usage_page_shows_a_meter_per_limit(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    await set_plan(hub, "tenant-a", "free")
    assert (await admin.post("/api/v1/projects", json={"name": "alpha"})).status_code == 201
    cookie = await login_cookie(hub, "alice@a.example")
    async with httpx.AsyncClient(base_url=hub.url, cookies={"orc_session": cookie}) as browser:
        page = await browser.get("/usage")
    assert page.status_code == 200, page.text
    html: Any = page.text
    assert "free plan" in html
    assert html.count("<meter") == 4
    assert 'aria-label="projects: 1 of 1"' in html
    assert 'href="/usage" class="active"' in html
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        assert (await anonymous.get("/usage")).headers.get("location") == "/login"


async def test_racing_for_the_last_slot_gets_it_once(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    await set_plan(hub, "tenant-a", "free")
    answers = await asyncio.gather(
        *(admin.post("/api/v1/projects", json={"name": f"p{i}"}) for i in range(6))
    )
    codes = sorted(res.status_code for res in answers)
    assert codes == [201] + [402] * 5, [res.text for res in answers]
    _, used = await usage_of(admin)
    assert used["projects"] == (1, 1)
