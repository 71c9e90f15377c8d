"""User API keys: made once, scoped, bounded by their owner's role and project, revocable, and
refused the moment the owner loses access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from orchestratia.hub.db.models import AuditEvent, User
from orchestratia.hub.db.team_models import UserApiKey
from orchestratia.protocol.tokens import TokenKind, checksum_ok
from tests.integration.hub_setup import add_user, tenant_b
from tests.integration.key_support import key_client, make_key
from tests.integration.running_hub import RunningHub


async def test_a_key_is_shown_once_stored_hashed_and_acts_as_its_owner(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    made = await make_key(admin, ["tasks:read", "tasks:write"])
    key = made["key"]
    assert key.startswith(TokenKind.API_KEY) and checksum_ok(key)
    assert key.startswith(made["prefix"]) and len(made["prefix"]) < 16
    listed = (await admin.get("/api/v1/api-keys")).json()["keys"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is None
    async with key_client(hub, key) as api:
        me = await api.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["email"] == "alice@a.example"
        res = await api.post("/api/v1/tasks", json={"project_id": project_id, "title": "t"})
        assert res.status_code == 201, res.text
        # Within the minute, uses are not written again.
        await api.get("/api/v1/tasks", params={"project_id": project_id})
    async with hub.state.sessionmaker() as db:
        row = await db.get(UserApiKey, made["id"])
        assert row is not None and row.key_hash != key and key not in str(row.scopes)
        assert row.last_used_at is not None
    listed = (await admin.get("/api/v1/api-keys")).json()["keys"]
    assert listed[0]["last_used_at"] is not None
    async with hub.state.sessionmaker() as db:
        events = {e.action: e for e in await db.scalars(select(AuditEvent))}
    assert "api_key.created" in events
    # What a key did names the key, not just its owner.
    created = events["task.created"]
    assert created.actor_id == "alice@a.example"
    assert created.details["api_key_id"] == made["id"]
    assert "api_key_id" not in events["api_key.created"].details


async def test_keys_work_on_the_api_only_and_never_on_pages_or_login_routes(
    hub: RunningHub, admin: httpx.AsyncClient
) -> None:
    key = (await make_key(admin))["key"]
    async with key_client(hub, key) as api:
        page = await api.get("/tasks", follow_redirects=False)
        assert page.status_code in (302, 303, 401)
        res = await api.post(
            "/api/v1/auth/password",
            json={"current_password": "x", "new_password": "something-long"},
        )
        assert res.status_code == 403 and "login" in res.json()["detail"]
        bad = await api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key[:-1]}x"})
        assert bad.status_code == 401


async def test_scopes_narrow_and_keys_cannot_mint_wider_keys(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    reader = (await make_key(admin, ["tasks:read"]))["key"]
    async with key_client(hub, reader) as api:
        res = await api.post("/api/v1/tasks", json={"project_id": project_id, "title": "t"})
        assert res.status_code == 403 and "tasks:write" in res.json()["detail"]
        res = await api.post("/api/v1/api-keys", json={"name": "x", "scopes": ["tasks:read"]})
        assert res.status_code == 403 and "admin" in res.json()["detail"]
    month = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    minter = await make_key(admin, ["admin", "tasks:read"], project_id=project_id, expires_at=month)
    async with key_client(hub, minter["key"]) as api:
        res = await api.post("/api/v1/api-keys", json={"name": "x", "scopes": ["tasks:write"]})
        assert res.status_code == 403 and "tasks:write" in res.json()["detail"]
        child = await make_key(api, ["tasks:read"])
        assert child["project_id"] == project_id  # inherits the restriction
        later = datetime.now(UTC) + timedelta(days=60)
        res = await api.post(
            "/api/v1/api-keys",
            json={"name": "x", "scopes": ["tasks:read"], "expires_at": later.isoformat()},
        )
        assert res.status_code == 422 and "outlive" in res.json()["detail"]


async def test_a_viewers_admin_key_still_cannot_write(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    viewer = await add_user(hub, admin, "vera@a.example", project_id, "viewer")
    key = (await make_key(viewer))["key"]
    async with key_client(hub, key) as api:
        res = await api.post("/api/v1/tasks", json={"project_id": project_id, "title": "t"})
        assert res.status_code == 403 and "read-only" in res.json()["detail"]
        res = await api.post("/api/v1/projects", json={"name": "mine"})
        assert res.status_code == 403
        assert (
            await api.get("/api/v1/tasks", params={"project_id": project_id})
        ).status_code == 200
    await viewer.aclose()


async def test_a_project_restricted_key_sees_only_its_project(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    other = (await admin.post("/api/v1/projects", json={"name": "beta"})).json()["id"]
    key = (await make_key(admin, project_id=project_id))["key"]
    async with key_client(hub, key) as api:
        projects = (await api.get("/api/v1/projects")).json()["projects"]
        assert [p["id"] for p in projects] == [project_id]
        assert (await api.get(f"/api/v1/projects/{other}")).status_code == 404
        res = await api.post("/api/v1/tasks", json={"project_id": other, "title": "t"})
        assert res.status_code == 404
        res = await api.get("/api/v1/tasks", params={"project_id": other})
        assert res.status_code == 404
        res = await api.post(
            "/api/v1/api-keys", json={"name": "x", "scopes": ["admin"], "project_id": other}
        )
        assert res.status_code == 404
        assert (await api.post("/api/v1/projects", json={"name": "gamma"})).status_code == 403
        res = await api.post(
            "/api/v1/approval-rules",
            json={"name": "r", "tool_pattern": "Bash", "action": "deny", "scope": "tenant"},
        )
        assert res.status_code == 403 and "tenant admins" in res.json()["detail"], res.text
        assert (await api.get("/api/v1/servers", params={"project_id": other})).status_code == 404
        res = await api.get("/api/v1/sessions", params={"project_id": other})
        assert res.status_code == 404


async def test_external_ref_stays_idempotent_per_project_with_keys(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    key = (await make_key(admin, ["tasks:write", "tasks:read"]))["key"]
    body = {"project_id": project_id, "title": "JIRA-7", "external_ref": "JIRA-7"}
    async with key_client(hub, key) as api:
        first = await api.post("/api/v1/tasks", json=body)
        again = await api.post("/api/v1/tasks", json=body)
    from_login = await admin.post("/api/v1/tasks", json=body)
    assert first.status_code == 201 and again.status_code == 200 and from_login.status_code == 200
    assert first.json()["id"] == again.json()["id"] == from_login.json()["id"]


async def test_revoked_expired_and_removed_owners_keys_are_refused(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    member = await add_user(hub, admin, "max@a.example", project_id, "member")
    me = (await member.get("/api/v1/auth/me")).json()
    pinned = (await make_key(member, project_id=project_id))["key"]
    roaming = (await make_key(member))["key"]
    revoked = await make_key(member)
    expiring = await make_key(member)
    assert (await member.delete(f"/api/v1/api-keys/{revoked['id']}")).status_code == 204
    assert (await member.delete(f"/api/v1/api-keys/{revoked['id']}")).status_code == 204
    async with hub.state.sessionmaker() as db:
        await db.execute(
            update(UserApiKey)
            .where(UserApiKey.id == expiring["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await db.commit()
    for gone in (revoked["key"], expiring["key"]):
        async with key_client(hub, gone) as api:
            assert (await api.get("/api/v1/auth/me")).status_code == 401
    # Removed from the project: the pinned key stops at once, the other reaches nothing there.
    res = await admin.delete(f"/api/v1/projects/{project_id}/members/{me['id']}")
    assert res.status_code == 204
    async with key_client(hub, pinned) as api:
        assert (await api.get("/api/v1/auth/me")).status_code == 401
    async with key_client(hub, roaming) as api:
        res = await api.get("/api/v1/tasks", params={"project_id": project_id})
        assert res.status_code == 404
        # Deactivated: no key of theirs works at all.
        async with hub.state.sessionmaker() as db:
            await db.execute(update(User).where(User.id == me["id"]).values(is_active=False))
            await db.commit()
        assert (await api.get("/api/v1/auth/me")).status_code == 401
    await member.aclose()


async def test_other_tenants_and_other_users_keys_are_not_found(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    mine = await make_key(admin)
    bob = await tenant_b(hub)
    assert (await bob.delete(f"/api/v1/api-keys/{mine['id']}")).status_code == 404
    assert (await bob.get("/api/v1/api-keys")).json()["keys"] == []
    member = await add_user(hub, admin, "mia@a.example", project_id, "member")
    assert (await member.delete(f"/api/v1/api-keys/{mine['id']}")).status_code == 404
    theirs = await make_key(member)
    # A tenant admin sees and revokes every key of the tenant (someone who left, a leak).
    listed = {k["id"]: k for k in (await admin.get("/api/v1/api-keys")).json()["keys"]}
    assert listed[theirs["id"]]["owner_email"] == "mia@a.example"
    assert (await admin.delete(f"/api/v1/api-keys/{theirs['id']}")).status_code == 204
    async with key_client(hub, theirs["key"]) as api:
        assert (await api.get("/api/v1/auth/me")).status_code == 401
    res = await bob.post(
        "/api/v1/api-keys", json={"name": "x", "scopes": ["admin"], "project_id": project_id}
    )
    assert res.status_code == 404
    await bob.aclose()
    await member.aclose()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["tasks:delete"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "", "scopes": ["admin"]}, "name"),
        ({"name": "   ", "scopes": ["admin"]}, "name"),
        ({"name": "x" * 121, "scopes": ["admin"]}, "name"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "9999-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "soon"}, "expires_at"),
        ({"name": "x", "scopes": ["admin"], "project_id": "p" * 65}, "project_id"),
        ({"name": "x", "scopes": ["admin"], "owner": "bob"}, "owner"),
        ({"name": "x", "scopes": "admin"}, "scopes"),
    ],
)
async def test_bad_key_requests_get_a_precise_422(
    admin: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    res = await admin.post("/api/v1/api-keys", json=body)
    assert res.status_code == 422, res.text
    assert field in res.text


async def test_unknown_projects_and_ids_are_404_never_500(admin: httpx.AsyncClient) -> None:
    res = await admin.post(
        "/api/v1/api-keys", json={"name": "x", "scopes": ["admin"], "project_id": "nope"}
    )
    assert res.status_code == 404
    assert (await admin.delete("/api/v1/api-keys/nope")).status_code == 404
    assert (await admin.delete("/api/v1/api-keys/" + "x" * 65)).status_code == 422
