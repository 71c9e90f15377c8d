"""On a hub shared by several organisations (``tunnel_allow_private`` off) no owner can make the
hub dial its own network through an SSH tunnel: such hosts are refused before anything is
stored or dialled."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"tunnel_allow_private": False}


async def test_private_tunnel_hosts_are_refused_when_not_allowed(
    admin: httpx.AsyncClient, project_id: str
) -> None:
    refused = 0
    for host in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "localhost"):
        res = await admin.post(
            "/api/v1/tunnels",
            json={"project_id": project_id, "name": f"t{refused}", "host": host, "port": 22,
                  "username": "deploy", "generate": True},
        )  # fmt: skip
        assert res.status_code == 422, (host, res.text)
        assert "does not send there" in res.json()["detail"], res.text
        refused += 1
    assert refused == 5
    listed = await admin.get("/api/v1/tunnels", params={"project_id": project_id})
    assert listed.status_code == 200 and listed.json() in ([], {"tunnels": []}), listed.text
