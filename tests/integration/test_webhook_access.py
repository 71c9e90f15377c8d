"""Who may manage a project's webhooks: its owners and the tenant's admins, through a login or
an API key with the webhooks scopes. Members and viewers are refused (403), people outside the
project and other tenants find nothing (404), and nothing they try changes the endpoint."""

from __future__ import annotations

import httpx

from tests.integration.hub_setup import cast_of
from tests.integration.key_support import key_client, make_key
from tests.integration.running_hub import RunningHub
from tests.integration.webhook_api_support import (
    Call,
    make_endpoint,
    queued_delivery,
    webhook_calls,
)

URL = "https://93.184.215.14/in"


async def _statuses(client: httpx.AsyncClient, calls: list[Call]) -> set[int]:
    seen = set()
    for method, url, body in calls:
        res = await client.request(method, url, json=body)
        assert res.status_code < 500, (method, url, res.text)
        seen.add(res.status_code)
    return seen


async def test_only_owners_manage_webhooks(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    made = await make_endpoint(admin, project_id, URL, description="ci")
    delivery = await queued_delivery(hub, made["id"])
    calls = webhook_calls(project_id, made["id"], delivery)
    async with cast_of(hub, admin, project_id) as cast:
        assert await _statuses(cast.member, calls) == {403}
        assert await _statuses(cast.viewer, calls) == {403}
        refused = await cast.viewer.get(f"/api/v1/webhooks/{made['id']}")
        assert "only the project's owners manage its webhooks" in refused.json()["detail"]
        assert await _statuses(cast.outsider, calls) == {404}
        assert await _statuses(cast.other_tenant, calls) == {404}
        for client in (cast.member, cast.viewer, cast.outsider, cast.other_tenant):
            listed = await client.get("/api/v1/webhooks")
            assert listed.status_code == 200 and listed.json() == {"webhooks": []}
        # Nothing they tried changed it; a project owner (not a tenant admin) manages it.
        seen = await cast.owner.get(f"/api/v1/webhooks/{made['id']}")
        assert seen.status_code == 200 and seen.json()["description"] == "ci"
        own = await make_endpoint(cast.owner, project_id, URL + "/owner")
        listed = await cast.owner.get("/api/v1/webhooks")
        assert [w["id"] for w in listed.json()["webhooks"]] == [made["id"], own["id"]]
        assert (await cast.owner.delete(f"/api/v1/webhooks/{own['id']}")).status_code == 204


async def test_api_keys_need_the_webhook_scopes(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    made = await make_endpoint(admin, project_id, URL)
    one = f"/api/v1/webhooks/{made['id']}"
    reader = await make_key(admin, ["webhooks:read"])
    writer = await make_key(admin, ["webhooks:read", "webhooks:write"])
    other = await make_key(admin, ["tasks:read", "tasks:write", "admin"])
    async with key_client(hub, reader["key"]) as api:
        assert (await api.get(one)).status_code == 200
        listed = await api.get("/api/v1/webhooks", params={"project_id": project_id})
        assert [w["id"] for w in listed.json()["webhooks"]] == [made["id"]]
        res = await api.patch(one, json={"description": "x"})
        assert res.status_code == 403 and "'webhooks:write'" in res.json()["detail"]
        res = await api.post("/api/v1/webhooks", json={"project_id": project_id, "url": URL})
        assert res.status_code == 403
    async with key_client(hub, other["key"]) as api:
        res = await api.get(one)
        assert res.status_code == 403 and "'webhooks:read'" in res.json()["detail"]
        assert (await api.delete(one)).status_code == 403
    async with key_client(hub, writer["key"]) as api:
        rotated = await api.post(f"{one}/rotate-secret", json={"overlap_hours": 0})
        assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    # A key tied to another project finds nothing of this one.
    beta = await admin.post("/api/v1/projects", json={"name": "beta"})
    tied = await make_key(admin, ["webhooks:read", "webhooks:write"], project_id=beta.json()["id"])
    async with key_client(hub, tied["key"]) as api:
        assert (await api.get(one)).status_code == 404
        assert (await api.get("/api/v1/webhooks")).json() == {"webhooks": []}
        res = await api.post("/api/v1/webhooks", json={"project_id": project_id, "url": URL})
        assert res.status_code == 404
