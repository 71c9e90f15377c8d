"""Inviting someone into a project and taking the link from the answer."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.running_hub import RunningHub


def invites_url(project_id: str) -> str:
    return f"/api/v1/projects/{project_id}/invites"


# The address invites go to unless a test names another: not yet a user anywhere.
NEW = "nia@a.example"


async def invite(
    client: httpx.AsyncClient, project_id: str, email: str = NEW, role: str = "member"
) -> dict[str, Any]:
    res = await client.post(invites_url(project_id), json={"email": email, "role": role})
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


def token_of(link: str) -> str:
    return link.rsplit("/invite/", 1)[1]


async def accept(hub: RunningHub, token: str, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        return await client.post("/api/v1/invites/accept", json={"token": token, **body})
