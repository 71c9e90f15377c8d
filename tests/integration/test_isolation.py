"""Tenant and project isolation over REST and dashboard routes (SPEC §2, §10)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from orchestratia.hub.db.models import RegistrationToken
from tests.integration.helpers import server_row
from tests.integration.hub_setup import (
    add_user,
    register_server,
    tenant_b,
)
from tests.integration.running_hub import RunningHub
from tests.integration.webhook_api_support import (
    make_endpoint,
    queued_delivery,
    webhook_calls,
)


async def _statuses(
    client: httpx.AsyncClient, calls: list[tuple[str, str, dict[str, Any] | None]]
) -> dict[str, int]:
    out: dict[str, int] = {}
    for method, url, body in calls:
        res = await client.request(method, url, json=body)
        assert res.status_code < 500, (method, url, res.text)
        out[f"{method} {url}"] = res.status_code
    return out


async def test_other_tenant_sees_404_everywhere(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    a_server = await register_server(admin, project_id)
    hook = await make_endpoint(admin, project_id, "https://93.184.215.14/a")
    hook_delivery = await queued_delivery(hub, hook["id"])
    made = await admin.post("/api/v1/api-keys", json={"name": "ci", "scopes": ["tasks:read"]})
    a_key = made.json()["id"]
    bob = await tenant_b(hub)
    try:
        res = await bob.post("/api/v1/projects", json={"name": "beta"})
        assert res.status_code == 201
        b_project = res.json()["id"]
        sid = a_server["id"]
        alice = (await admin.get("/api/v1/auth/me")).json()["id"]
        invites = f"/api/v1/projects/{project_id}/invites"
        res = await admin.post(invites, json={"email": "eve@a.example", "role": "member"})
        invite = f"{invites}/{res.json()['id']}"
        res = await admin.post(
            "/api/v1/tunnels",
            json={"project_id": project_id, "name": "nat", "host": "10.0.0.9",
                  "username": "ci", "generate": True},
        )  # fmt: skip
        tunnel = f"/api/v1/tunnels/{res.json()['id']}"
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", f"/api/v1/projects/{project_id}", None),
            ("GET", f"/api/v1/projects/{project_id}/members", None),
            (
                "POST",
                f"/api/v1/projects/{project_id}/members",
                {"email": "bob@b.example", "role": "owner"},
            ),
            ("PATCH", f"/api/v1/projects/{project_id}/members/{alice}", {"role": "viewer"}),
            ("DELETE", f"/api/v1/projects/{project_id}/members/{alice}", None),
            ("POST", "/api/v1/servers/tokens", {"project_id": project_id}),
            ("GET", f"/api/v1/servers?project_id={project_id}", None),
            ("GET", f"/api/v1/servers/{sid}", None),
            ("POST", f"/api/v1/servers/{sid}/revoke-keys", None),
            ("GET", f"/ui/servers/{sid}/row", None),
            ("POST", f"/ui/projects/{project_id}/register-token", None),
            ("DELETE", f"/api/v1/api-keys/{a_key}", None),
            (
                "POST",
                "/api/v1/api-keys",
                {"name": "x", "scopes": ["admin"], "project_id": project_id},
            ),
            ("GET", f"/api/v1/projects/{project_id}/export", None),
            ("GET", f"/api/v1/audit?project_id={project_id}", None),
            ("GET", f"/api/v1/audit/export?project_id={project_id}", None),
            ("GET", f"/ui/audit/rows?project_id={project_id}", None),
            ("POST", invites, {"email": "bob2@b.example", "role": "owner"}),
            ("GET", invites, None),
            ("POST", f"{invite}/resend", None),
            ("DELETE", invite, None),
            ("GET", f"/ui/projects/{project_id}/invites", None),
            ("GET", f"/team?project_id={project_id}", None),
            ("POST", f"/api/v1/projects/{project_id}/stop-all", {"reason": "b was here"}),
            ("POST", f"/api/v1/projects/{project_id}/resume", None),
            *webhook_calls(project_id, hook["id"], hook_delivery),
            ("GET", f"/api/v1/tunnels?project_id={project_id}", None),
            ("GET", tunnel, None),
            ("PATCH", tunnel, {"enabled": False}),
            ("POST", f"{tunnel}/setup", None),
            ("DELETE", tunnel, None),
            ("GET", f"/ui/tunnels/{tunnel.rsplit('/', 1)[1]}/row", None),
        ]
        got = await _statuses(bob, calls)
        assert got == dict.fromkeys(got, 404)
        for method, url, body in calls:
            res = await bob.request(method, url, json=body)
            assert a_server["api_key"] not in res.text and "alpha" not in res.text

        listed = await bob.get("/api/v1/projects")
        assert [p["id"] for p in listed.json()["projects"]] == [b_project]
        # The same machine id in B's project is a different server, not A's row.
        b_server = await register_server(bob, b_project, machine_id="machine-1")
        assert b_server["id"] != sid
    finally:
        await bob.aclose()

    # Nothing B tried changed A's project.
    listed = await admin.get("/api/v1/projects")
    assert [p["id"] for p in listed.json()["projects"]] == [project_id]
    assert listed.json()["projects"][0]["assignment_paused_at"] is None
    still = await admin.get(f"/api/v1/webhooks/{hook['id']}")
    assert still.status_code == 200 and still.json()["description"] == ""
    members = await admin.get(f"/api/v1/projects/{project_id}/members")
    assert [m["email"] for m in members.json()] == ["alice@a.example"]
    async with hub.state.sessionmaker() as db:
        tokens = await db.scalar(
            select(func.count())
            .select_from(RegistrationToken)
            .where(RegistrationToken.project_id == project_id)
        )
    # Only the one A used to register its server, and the one A's tunnel came with.
    assert tokens == 2
    async with httpx.AsyncClient(base_url=hub.url) as anon:
        res = await anon.post(
            "/api/v1/servers/heartbeat", json={}, headers={"X-API-Key": a_server["api_key"]}
        )
    assert res.status_code == 200  # the key B tried to revoke still works


async def test_viewer_reads_but_cannot_write(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    server = await register_server(admin, project_id)
    res = await admin.post(
        f"/api/v1/projects/{project_id}/members", json={"email": "vic@a.example", "role": "viewer"}
    )
    assert res.status_code == 404  # not a user yet
    viewer = await add_user(hub, admin, "vic@a.example")
    try:
        res = await admin.post(
            f"/api/v1/projects/{project_id}/members",
            json={"email": "vic@a.example", "role": "viewer"},
        )
        assert res.status_code == 201, res.text
        project = await viewer.get(f"/api/v1/projects/{project_id}")
        assert project.status_code == 200 and project.json()["role"] == "viewer"
        listed = await viewer.get("/api/v1/servers", params={"project_id": project_id})
        assert listed.status_code == 200
        assert [s["id"] for s in listed.json()["servers"]] == [server["id"]]
        assert (await viewer.get(f"/api/v1/servers/{server['id']}")).status_code == 200

        writes = await _statuses(
            viewer,
            [
                ("POST", "/api/v1/servers/tokens", {"project_id": project_id}),
                ("POST", f"/api/v1/servers/{server['id']}/revoke-keys", None),
                ("POST", f"/ui/projects/{project_id}/register-token", None),
                (
                    "POST",
                    f"/api/v1/projects/{project_id}/members",
                    {"email": "vic@a.example", "role": "owner"},
                ),
            ],
        )
        assert writes == dict.fromkeys(writes, 403)
        # Reading the project does not open its audit trail or its export.
        audit_reads = await _statuses(
            viewer,
            [
                ("GET", "/api/v1/audit", None),
                ("GET", f"/api/v1/audit?project_id={project_id}", None),
                ("GET", "/api/v1/audit/export", None),
                ("GET", f"/api/v1/projects/{project_id}/export", None),
            ],
        )
        assert audit_reads == dict.fromkeys(audit_reads, 403)
        denied = await viewer.post("/api/v1/servers/tokens", json={"project_id": project_id})
        assert "viewer" in denied.json()["detail"]
        assert (await viewer.post("/api/v1/projects", json={"name": "mine"})).status_code == 403
    finally:
        await viewer.aclose()
    members = await admin.get(f"/api/v1/projects/{project_id}/members")
    assert {m["email"]: m["role"] for m in members.json()}["vic@a.example"] == "viewer"


async def test_member_needs_membership_of_the_project(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    server = await register_server(admin, project_id)
    outsider = await add_user(hub, admin, "olga@a.example")
    try:
        got = await _statuses(
            outsider,
            [
                ("GET", f"/api/v1/projects/{project_id}", None),
                ("GET", f"/api/v1/servers?project_id={project_id}", None),
                ("GET", f"/api/v1/servers/{server['id']}", None),
                ("POST", "/api/v1/servers/tokens", {"project_id": project_id}),
                ("GET", f"/ui/servers/{server['id']}/row", None),
                ("GET", f"/api/v1/projects/{project_id}/export", None),
                ("GET", f"/api/v1/audit?project_id={project_id}", None),
            ],
        )
        assert got == dict.fromkeys(got, 404)
        assert (await outsider.get("/api/v1/projects")).json() == {"projects": []}

        res = await admin.post(
            f"/api/v1/projects/{project_id}/members",
            json={"email": "olga@a.example", "role": "member"},
        )
        assert res.status_code == 201
        res = await outsider.post("/api/v1/servers/tokens", json={"project_id": project_id})
        assert res.status_code == 201, res.text  # a member may enrol servers
        listed = await outsider.get("/api/v1/projects")
        assert [p["role"] for p in listed.json()["projects"]] == ["member"]
    finally:
        await outsider.aclose()


async def test_server_key_touches_only_its_own_server(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    a_server = await register_server(admin, project_id)
    bob = await tenant_b(hub)
    try:
        res = await bob.post("/api/v1/projects", json={"name": "beta"})
        b_project = res.json()["id"]
        b_server = await register_server(bob, b_project)
        async with httpx.AsyncClient(base_url=hub.url) as anon:
            res = await anon.post(
                "/api/v1/servers/heartbeat",
                json={"system_info": {"owner": "a"}},
                headers={"X-API-Key": a_server["api_key"]},
            )
        assert res.status_code == 200 and res.json()["server_id"] == a_server["id"]
        a_row = await server_row(admin, a_server["id"])
        assert a_row["status"] == "online" and a_row["system_info"] == {"owner": "a"}
        b_row = await server_row(bob, b_server["id"])
        assert b_row["status"] == "disconnected"
        assert b_row["system_info"] != {"owner": "a"}
        # Each admin sees only its own server listed.
        res = await bob.get("/api/v1/servers", params={"project_id": b_project})
        assert [s["id"] for s in res.json()["servers"]] == [b_server["id"]]
    finally:
        await bob.aclose()
