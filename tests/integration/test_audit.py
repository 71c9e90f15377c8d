"""The audit log: the actions we promise to record, the hash chain, and no secrets in it."""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlalchemy import select

from orchestratia.hub.db.models import AuditEvent
from orchestratia.hub.services import audit
from tests.integration.helpers import audit_rows
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub

WRONG_PASSWORD = "wrong-Pa55word-do-not-log"


async def _chain_ok(hub: RunningHub) -> bool:
    async with hub.state.sessionmaker() as db:
        return (await audit.verify_chain(db)).ok


async def _story(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> dict[str, str]:
    """Login (the ``admin`` fixture), a failed login, a token, a registration, a bad key."""
    async with httpx.AsyncClient(base_url=hub.url) as anon:
        failed = await anon.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": WRONG_PASSWORD}
        )
        assert failed.status_code == 401
        server = await register_server(admin, project_id)
        rejected = await anon.post(
            "/api/v1/servers/heartbeat", json={}, headers={"X-API-Key": "orc_forged-key"}
        )
        assert rejected.status_code == 401
    return {"server_id": server["id"], "api_key": server["api_key"]}


async def test_security_actions_are_recorded(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    story = await _story(hub, admin, project_id)
    me = (await admin.get("/api/v1/auth/me")).json()
    rows = await audit_rows(hub)
    by_action = {r.action: r for r in rows}
    for action in (
        "auth.login",
        "auth.login_failed",
        "server_token.created",
        "server.registered",
        "server.key_rejected",
    ):
        assert action in by_action, (action, [r.action for r in rows])

    login = by_action["auth.login"]
    assert login.tenant_id == me["tenant_id"] and login.actor_id == "alice@a.example"
    assert login.ip == "127.0.0.1" and login.request_id
    failed = by_action["auth.login_failed"]
    assert failed.tenant_id == me["tenant_id"] and failed.target_id == me["id"]
    token = by_action["server_token.created"]
    assert token.project_id == project_id and token.actor_type == "user"
    registered = by_action["server.registered"]
    assert registered.target_id == story["server_id"] and registered.project_id == project_id
    assert registered.actor_type == "server"
    rejected = by_action["server.key_rejected"]
    assert rejected.details["key_prefix"] == "orc_forg"
    # Append-only and ordered: every row links to the one before it.
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert await _chain_ok(hub)


async def test_audit_never_holds_passwords_or_keys(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    story = await _story(hub, admin, project_id)
    [failed] = await audit_rows(hub, "auth.login_failed")
    assert failed.details == {"email": "alice@a.example"}
    dumped = json.dumps(
        [
            {c.name: getattr(r, c.name) for c in AuditEvent.__table__.columns}
            for r in await audit_rows(hub)
        ],
        default=str,
    )
    assert WRONG_PASSWORD not in dumped
    assert "correct horse battery" not in dumped
    assert story["api_key"] not in dumped
    assert story["api_key"][len("orc_") :] not in dumped


async def test_concurrent_appends_keep_one_chain(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anon:
        calls = [
            *(
                anon.post(
                    "/api/v1/auth/login", json={"email": "alice@a.example", "password": f"bad-{i}"}
                )
                for i in range(4)
            ),
            *(
                anon.post("/api/v1/servers/heartbeat", json={}, headers={"X-API-Key": f"orc_{i}"})
                for i in range(6)
            ),
            *(
                admin.post("/api/v1/servers/tokens", json={"project_id": project_id})
                for _ in range(4)
            ),
        ]
        results = await asyncio.gather(*calls)
    assert sorted(r.status_code for r in results) == [201] * 4 + [401] * 10
    async with hub.state.sessionmaker() as db:
        links = list(await db.scalars(select(AuditEvent.prev_hash)))
    assert len(links) == len(set(links)), "two events claim the same predecessor"
    assert await _chain_ok(hub)
