"""Helpers for the approval tests: a second tenant, extra users, rule bodies, inbox decisions
taken through ``tool_approvals.decide`` as the inbox API takes them, and permission-log entries
shipped as a daemon ships them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from orchestratia.hub.services import audit
from orchestratia.hub.services.access.auth import Principal
from orchestratia.hub.services.approvals import tool_approvals
from orchestratia.hub.services.tasks.context import Caller
from tests.integration.running_hub import RunningHub


def rule_body(name: str, action: str = "allow", **fields: Any) -> dict[str, Any]:
    return {"name": name, "tool_pattern": "Bash", "action": action, **fields}


async def create_rule(
    client: httpx.AsyncClient, name: str, action: str = "allow", **fields: Any
) -> dict[str, Any]:
    res = await client.post("/api/v1/approval-rules", json=rule_body(name, action, **fields))
    assert res.status_code == 201, res.text
    return dict(res.json())


async def user_caller(client: httpx.AsyncClient) -> Caller:
    """The ``Caller`` the inbox API would build for this logged-in user."""
    me = (await client.get("/api/v1/auth/me")).json()
    principal = Principal(me["id"], me["tenant_id"], me["email"], me["is_tenant_admin"], "test")
    actor = audit.Actor("user", me["email"], "127.0.0.1")
    return Caller(me["tenant_id"], "user", me["email"], actor, principal=principal)


async def decide(
    hub: RunningHub,
    caller: Caller,
    approval_id: str,
    *,
    approve: bool = True,
    decision_id: str = "decision-1",
    reason: str | None = None,
    allow_minutes: int | None = None,
    wake: bool = True,
) -> str:
    """One inbox decision in its own transaction, committed; its outcome."""
    async with hub.state.sessionmaker() as db:
        outcome = await tool_approvals.decide(
            db,
            caller,
            approval_id,
            approve,
            decision_id,
            reason,
            allow_minutes,
            waiters=hub.state.approval_waiters if wake else None,
        )
        await db.commit()
    return outcome


async def ask(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """Raise a tool approval as the hook does."""
    payload = {"agent": "claude", "tool": "Bash", "tool_input": {"command": "make deploy"}, **body}
    res = await client.post("/approvals", json=payload)
    assert res.status_code == 201, res.text
    return dict(res.json())


def entry(
    entry_id: str, session_id: str, decision: str = "allowed", **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": entry_id,
        "session_id": session_id,
        "agent": "claude",
        "tool": "Bash",
        "tool_input": {"command": f"echo {entry_id}"},
        "decision": decision,
        "decided_by": "default",
        "reason": "",
        "created_at": datetime.now(UTC).isoformat(),
    }
    body.update(fields)
    return body


async def ship(client: httpx.AsyncClient, *entries: dict[str, Any]) -> httpx.Response:
    return await client.post("/permissions/log", json={"entries": list(entries)})
