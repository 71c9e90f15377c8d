"""Making user API keys and clients that call with them."""

from __future__ import annotations

from typing import Any

import httpx

from orchestratia.protocol.api_keys import API_SCOPES
from tests.integration.running_hub import RunningHub


async def make_key(
    client: httpx.AsyncClient, scopes: list[str] | tuple[str, ...] = API_SCOPES, **extra: Any
) -> dict[str, Any]:
    res = await client.post(
        "/api/v1/api-keys", json={"name": "ci", "scopes": list(scopes), **extra}
    )
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


def key_client(hub: RunningHub, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=hub.url, timeout=10, headers={"Authorization": f"Bearer {key}"}
    )
