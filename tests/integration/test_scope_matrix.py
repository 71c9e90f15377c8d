"""The scope matrix, read from /openapi.json: on every operation that needs a user scope, a
key without that scope is refused with 403 naming it, and a key with only that scope gets past
the check (whatever the route then says about the made-up ids: never 401 or 403)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from orchestratia.protocol.api_keys import API_SCOPES
from tests.integration.key_support import key_client, make_key
from tests.integration.running_hub import RunningHub


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (method.upper(), path, op["x-required-scope"])
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op.get("x-required-scope") in API_SCOPES
    ]


def _url(path: str, project_id: str) -> str:
    path = path.replace("{project_id}", project_id)
    return re.sub(r"\{[^}]+\}", "no-such-id", path)


async def test_every_scoped_operation_needs_its_scope(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    doc = (await admin.get("/openapi.json")).json()
    matrix = _operations(doc)
    assert len(matrix) > 40
    only: dict[str, str] = {s: (await make_key(admin, [s]))["key"] for s in API_SCOPES}
    without: dict[str, str] = {
        s: (await make_key(admin, [o for o in API_SCOPES if o != s]))["key"] for s in API_SCOPES
    }
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as api:
        for method, path, scope in matrix:
            url = _url(path, project_id)
            body: dict[str, str] | None = {} if method in ("POST", "PUT", "PATCH") else None
            refused = await api.request(
                method, url, json=body, headers={"Authorization": f"Bearer {without[scope]}"}
            )
            assert refused.status_code == 403, (method, path, refused.text)
            assert scope in refused.json()["detail"], (method, path)
            allowed = await api.request(
                method, url, json=body, headers={"Authorization": f"Bearer {only[scope]}"}
            )
            assert allowed.status_code not in (401, 403), (method, path, allowed.text)
            assert allowed.status_code < 500, (method, path, allowed.text)


async def test_tampered_and_garbage_keys_get_401(hub: RunningHub, admin: httpx.AsyncClient) -> None:
    key = (await make_key(admin, ["tasks:read"]))["key"]
    for bad in (key[:-6] + "AAAAAA", key[:-1], "orck_", "orck_" + "x" * 2000):
        async with key_client(hub, bad) as api:
            res = await api.get("/api/v1/tasks")
            assert res.status_code == 401, (bad[:20], res.status_code)
