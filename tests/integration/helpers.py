"""Helpers for the integration tests: cheap password hashing, WebSocket peers, audit queries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from orchestratia.hub.db.models import AuditEvent
from tests.integration.conftest import PASSWORD, RunningHub
from tests.support import wait_until

FRAME_TIMEOUT = 5.0


@asynccontextmanager
async def ws_connect(
    url: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """A client socket that ignores proxy settings and closes quickly."""
    async with connect(
        url, additional_headers=headers, proxy=None, open_timeout=5, close_timeout=2, **kwargs
    ) as ws:
        yield ws


async def recv_json(ws: ClientConnection, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    frame: dict[str, Any] = json.loads(raw)
    return frame


async def close_code(ws: ClientConnection, timeout: float = FRAME_TIMEOUT) -> int | None:
    """Wait for the hub to close the socket; the close code it sent."""
    await asyncio.wait_for(ws.wait_closed(), timeout)
    return ws.close_code


async def authenticate(
    ws: ClientConnection, api_key: str, protocol: int | None = 2
) -> dict[str, Any]:
    auth: dict[str, Any] = {"type": "auth", "api_key": api_key}
    if protocol is not None:
        auth["protocol"] = protocol
    await ws.send(json.dumps(auth))
    frame = await recv_json(ws)
    assert frame["type"] == "auth_ok", frame
    return frame


async def heartbeat_ok(ws: ClientConnection, system_info: dict[str, Any] | None = None) -> None:
    """Send a heartbeat and insist on its ack: proves the socket is usable."""
    await ws.send(json.dumps({"type": "heartbeat", "system_info": system_info or {}}))
    frame = await recv_json(ws)
    assert frame == {"type": "heartbeat_ack"}, frame


async def server_row(admin: httpx.AsyncClient, server_id: str) -> dict[str, Any]:
    res = await admin.get(f"/api/v1/servers/{server_id}")
    assert res.status_code == 200, res.text
    row: dict[str, Any] = res.json()
    return row


async def wait_for_status(admin: httpx.AsyncClient, server_id: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        row = await server_row(admin, server_id)
        return row if row["status"] == status else None

    return await wait_until(probe, message=f"server {server_id} {status}")


async def audit_rows(hub: RunningHub, action: str | None = None) -> list[AuditEvent]:
    async with hub.state.sessionmaker() as db:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(await db.scalars(query))


async def login_cookie(hub: RunningHub, email: str) -> str:
    """The ``orc_session`` cookie value of a fresh login."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        res = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert res.status_code == 200, res.text
        token = res.cookies.get("orc_session")
    assert token
    return token
