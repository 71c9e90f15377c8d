"""Tool calls a rule sent to ``ask`` (docs/approvals.md): raised by the hook, long-polled, decided
exactly once, expiring, and "allow for this session for N minutes"."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from orchestratia.hub.db.approval_models import ApprovalRule, ToolApproval
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.errors import Forbidden
from orchestratia.hub.services.approvals import tool_approvals
from orchestratia.hub.services.tasks.context import Caller
from tests.integration.approval_support import ask, decide, user_caller
from tests.integration.helpers import audit_rows
from tests.integration.hub_setup import add_user, register_server, tenant_b
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet
from tests.support import wait_until


async def _state(client: httpx.AsyncClient, approval_id: str, wait: float = 0) -> dict[str, Any]:
    res = await client.get(f"/approvals/{approval_id}", params={"wait": wait})
    assert res.status_code == 200, res.text
    return dict(res.json())


async def _set_expiry(hub: RunningHub, approval_id: str, seconds: float) -> None:
    async with hub.state.sessionmaker() as db:
        await db.execute(
            update(ToolApproval)
            .where(ToolApproval.id == approval_id)
            .values(expires_at=utcnow() + timedelta(seconds=seconds))
        )
        await db.commit()


async def test_raise_and_read_an_ask(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    twin = await register_server(admin, project_id, "machine-2")
    async with fleet(hub, admin, project_id) as f:
        work = await f.session("work")
        feed = hub.state.bus.subscribe(project_id)
        made = await ask(work.client, rule_id="rule-7", reason="Rule says ask")
        assert made["status"] == "pending"
        assert await asyncio.wait_for(feed.get(), 5) == {"type": "inbox_update"}
        got = await _state(work.client, made["id"])
        assert got["status"] == "pending" and got["reason"] == "Rule says ask"
        assert got["decided_by"] is None and got["expires_at"] == made["expires_at"]
        async with hub.state.sessionmaker() as db:
            row = await db.get(ToolApproval, made["id"])
            assert row is not None
            assert (row.session_id, row.main_param, row.rule_id) == (
                work.id,
                "make deploy",
                "rule-7",
            )
            left = (row.expires_at - utcnow()).total_seconds()
            assert 290 < left <= 300  # settings.approval_timeout
        [requested] = await audit_rows(hub, "approval.requested")
        assert requested.target_id == made["id"] and requested.actor_type == "session"

        async with f.server_client() as by_key:
            named = await ask(by_key, session_id=work.id)
            anonymous = await ask(by_key)
            res = await by_key.post(
                "/approvals", json={"agent": "claude", "tool": "Bash", "session_id": "nope"}
            )
            assert res.status_code == 404
            assert (await _state(by_key, made["id"]))["status"] == "pending"  # same server
        res = await work.client.post(
            "/approvals", json={"agent": "claude", "tool": "Bash", "session_id": named["id"]}
        )
        assert res.status_code == 404  # a session token acts only for its own session
        async with hub.state.sessionmaker() as db:
            rows = {r.id: r.session_id for r in await db.scalars(select(ToolApproval))}
        assert rows[named["id"]] == work.id and rows[anonymous["id"]] is None

        async with httpx.AsyncClient(
            base_url=hub.url + "/api/v1/server", headers={"X-API-Key": twin["api_key"]}
        ) as other_server:
            res = await other_server.get(f"/approvals/{made['id']}")
            assert res.status_code == 404
        for params in ({"wait": 31}, {"wait": -1}):
            res = await work.client.get(f"/approvals/{made['id']}", params=params)
            assert res.status_code == 422
        res = await work.client.post("/approvals", json={"agent": "Claude!", "tool": "Bash"})
        assert res.status_code == 422 and "agent" in res.text
        assert (await admin.post("/api/v1/server/approvals", json={})).status_code == 401
        hub.state.bus.unsubscribe(project_id, feed)


async def test_long_poll_returns_as_soon_as_decided(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    caller = await user_caller(admin)
    async with fleet(hub, admin, project_id) as f:
        work = await f.session("work")

        async def poll_and_decide(wake: bool, approve: bool) -> tuple[dict[str, Any], float]:
            made = await ask(work.client)
            waiting = asyncio.create_task(_state(work.client, made["id"], wait=20))
            await wait_until(lambda: len(hub.state.approval_waiters) == 1, message="a waiter")
            decided_at = time.monotonic()
            outcome = await decide(
                hub, caller, made["id"], approve=approve, decision_id=made["id"], wake=wake
            )
            assert outcome == "applied"
            got = await asyncio.wait_for(waiting, 10)
            return got, time.monotonic() - decided_at

        got, took = await poll_and_decide(wake=True, approve=False)
        assert got["status"] == "denied" and got["decided_by"] == "alice@a.example"
        assert "Denied by alice@a.example" in got["reason"] and got["decided_at"]
        assert took < tool_approvals.POLL_SECONDS  # woken, not polled
        # Decided where no waiter hears it (another replica): the poll still sees it.
        got, took = await poll_and_decide(wake=False, approve=True)
        assert got["status"] == "approved" and took < 3 * tool_approvals.POLL_SECONDS
        assert len(hub.state.approval_waiters) == 0

        made = await ask(work.client)
        started = time.monotonic()
        got = await _state(work.client, made["id"], wait=1)
        assert got["status"] == "pending" and time.monotonic() - started >= 0.9


async def test_expired_asks(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> None:
    caller = await user_caller(admin)
    async with fleet(hub, admin, project_id) as f:
        work = await f.session("work")
        made = await ask(work.client)
        await _set_expiry(hub, made["id"], -1)
        assert (await _state(work.client, made["id"]))["status"] == "expired"
        assert await decide(hub, caller, made["id"]) == "conflict"
        async with hub.state.sessionmaker() as db:
            row = await db.get(ToolApproval, made["id"])
            assert row is not None and row.status == "expired" and row.decision_id is None

        # A long-poll ends when the ask lapses, not at its own deadline.
        made = await ask(work.client)
        await _set_expiry(hub, made["id"], 0.6)
        started = time.monotonic()
        got = await _state(work.client, made["id"], wait=10)
        assert got["status"] == "expired" and time.monotonic() - started < 3
        # Lapsed but not yet marked: a decision still refuses it.
        made = await ask(work.client)
        await _set_expiry(hub, made["id"], -1)
        assert await decide(hub, caller, made["id"]) == "conflict"


async def test_decided_exactly_once(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    caller = await user_caller(admin)
    async with fleet(hub, admin, project_id) as f:
        work = await f.session("work")
        made = await ask(work.client)
        outcomes = await asyncio.gather(
            *(
                decide(hub, caller, made["id"], approve=i % 2 == 0, decision_id=f"racer-{i}")
                for i in range(6)
            )
        )
        assert sorted(outcomes) == ["applied"] + ["conflict"] * 5
        winner = f"racer-{outcomes.index('applied')}"
        assert await decide(hub, caller, made["id"], decision_id=winner) == "already_applied"
        assert await decide(hub, caller, made["id"], decision_id="late") == "conflict"
        [decided] = await audit_rows(hub, "approval.decided")
        assert decided.actor_id == "alice@a.example" and decided.target_id == made["id"]
        assert decided.details["decision_id"] == winner and decided.details["decided_at"]

        # The same decision sent several times at once (a retry racing the original).
        made = await ask(work.client)
        outcomes = await asyncio.gather(
            *(decide(hub, caller, made["id"], decision_id="same") for _ in range(4))
        )
        assert sorted(outcomes) == ["already_applied"] * 3 + ["applied"]

        made = await ask(work.client)
        viewer = await add_user(hub, admin, "vic@a.example", project_id, "viewer")
        bob = await tenant_b(hub)
        try:
            with pytest.raises(Forbidden):
                await decide(hub, await user_caller(viewer), made["id"])
            assert await decide(hub, await user_caller(bob), made["id"]) == "not_found"
        finally:
            await viewer.aclose()
            await bob.aclose()
        assert await decide(hub, caller, "no-such-approval") == "not_found"
        agent = Caller(caller.tenant_id, "agent", "server:x", caller.actor)
        with pytest.raises(Forbidden):
            await decide(hub, agent, made["id"])
        assert (await _state(work.client, made["id"]))["status"] == "pending"


async def test_allow_minutes_makes_an_expiring_session_rule(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    caller = await user_caller(admin)
    async with fleet(hub, admin, project_id) as f:
        work = await f.session("work")
        other = await f.session("other")
        command = "ls *.py && echo '[ok]?'"
        made = await ask(work.client, tool_input={"command": command})
        assert await decide(hub, caller, made["id"], allow_minutes=10) == "applied"
        async with hub.state.sessionmaker() as db:
            [rule] = (await db.scalars(select(ApprovalRule))).all()
        assert (rule.scope, rule.scope_id, rule.session_id) == ("session", work.id, work.id)
        assert (rule.action, rule.tool_pattern, rule.pattern_syntax) == ("allow", "Bash", "glob")
        assert rule.param_pattern == "ls [*].py && echo '[[]ok][?]'"
        assert rule.expires_at is not None and rule.created_by == "alice@a.example"
        left = (rule.expires_at - utcnow()).total_seconds()
        assert 590 < left <= 600
        [created] = await audit_rows(hub, "approval_rule.created")
        assert created.details["approval_id"] == made["id"] and created.details["version"] == 1

        async def verdict(session_id: str, text: str) -> str:
            body = {
                "agent": "claude",
                "tool": "Bash",
                "tool_input": {"command": text},
                "session_id": session_id,
            }
            res = await admin.post("/api/v1/approval-rules/test", json=body)
            assert res.status_code == 200, res.text
            return str(res.json()["action"])

        assert await verdict(work.id, command) == "allow"
        assert await verdict(work.id, "ls x.py && echo 'k'!") == "ask"  # metacharacters literal
        assert await verdict(other.id, command) == "ask"

        # A patch touching several files: every one must be the same to be allowed again.
        patch = "*** Begin Patch\n*** Update File: a.py\n*** Add File: b[1].py\n*** End Patch"
        made = await ask(
            work.client, agent="codex", tool="apply_patch", tool_input={"command": patch}
        )
        assert await decide(hub, caller, made["id"], allow_minutes=1) == "applied"
        body = {"agent": "codex", "tool": "apply_patch", "session_id": work.id}
        for text, expected in ((patch, "allow"), (patch.replace("a.py", "c.py"), "ask")):
            res = await admin.post(
                "/api/v1/approval-rules/test", json={**body, "tool_input": {"command": text}}
            )
            assert res.json()["action"] == expected, text

        # Denied, or raised without a session: no rule.
        made = await ask(work.client, tool_input={"command": "rm -rf /"})
        assert await decide(hub, caller, made["id"], approve=False, allow_minutes=5) == "applied"
        async with f.server_client() as by_key:
            made = await ask(by_key)
        assert await decide(hub, caller, made["id"], allow_minutes=5) == "applied"
        async with hub.state.sessionmaker() as db:
            assert len((await db.scalars(select(ApprovalRule))).all()) == 2


async def test_an_ask_lasts_only_as_long_as_its_hook_waits(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        work = await f.session("work")
        expiry = {}
        for wait in (5, None, 86_400):
            made = await ask(work.client, **({"wait_seconds": wait} if wait else {}))
            expiry[wait] = datetime.fromisoformat(made["expires_at"])
        # The hub's own limit (300 s here) caps a longer wait; a shorter one ends the ask sooner.
        assert timedelta(seconds=290) < expiry[None] - expiry[5] < timedelta(seconds=300)
        assert abs(expiry[86_400] - expiry[None]) < timedelta(seconds=5)
        bad = await work.client.post(
            "/approvals", json={"agent": "claude", "tool": "Bash", "wait_seconds": 0}
        )
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "wait_seconds"
