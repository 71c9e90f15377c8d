"""Stop all agents (the kill switch) against a fake daemon: Ctrl-C to every live session, the
process tree of what outlives the grace killed, auto-assignment paused until resumed, who may
do it, and what the audit log keeps."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.integration.helpers import (
    FakeDaemon,
    audit_rows,
    dashboard_socket,
    login_cookie,
    recv_json,
)
from tests.integration.hub_setup import add_user, tenant_b
from tests.integration.key_support import key_client, make_key
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet
from tests.support import wait_until

GRACE = 1.0
CTRL_C = base64.b64encode(b"\x03").decode()


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"heartbeat_timeout": 60, "stop_all_grace": GRACE}  # fake daemons don't heartbeat


async def _status(admin: httpx.AsyncClient, path: str) -> dict[str, Any]:
    res = await admin.get(path)
    assert res.status_code == 200, res.text
    return dict(res.json())


async def _ctrl_c(daemon: FakeDaemon, session_id: str) -> None:
    frame = await daemon.expect("session_input", session_id=session_id)
    assert frame["data"] == CTRL_C


async def test_ctrl_c_to_all_then_kill_what_is_left_and_pause(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        polite = await f.session("polite")
        stubborn = await f.session("stubborn")
        await admin.patch(
            f"/api/v1/projects/{project_id}/task-settings",
            json={"auto_assign": True, "lost_session_policy": "requeue"},
        )
        held = await f.task("held by the stubborn one")
        await f.daemon.expect("task_assigned", task_id=held["id"])

        stop = asyncio.create_task(
            admin.post(f"/api/v1/projects/{project_id}/stop-all", json={"reason": "runaway"})
        )
        await _ctrl_c(f.daemon, polite.id)
        await _ctrl_c(f.daemon, stubborn.id)
        await f.daemon.closed(polite.id, exit_code=130)  # Ctrl-C ended it
        kill = await f.daemon.expect("session_kill", session_id=stubborn.id)
        assert kill["session_id"] == stubborn.id
        await f.daemon.closed(stubborn.id, exit_code=None)
        res = await stop
        assert res.status_code == 200, res.text
        body = res.json()
        assert {k: body[k] for k in ("sessions", "stopped", "killed", "not_reached")} == {
            "sessions": 2,
            "stopped": 1,
            "killed": 1,
            "not_reached": 0,
        }
        assert body["grace_seconds"] == GRACE and body["already_stopping"] == 0
        [pause] = body["projects"]
        assert pause["project_id"] == project_id and pause["paused_at"] is not None
        shown = await _status(admin, f"/api/v1/projects/{project_id}")
        assert shown["assignment_paused_at"] == pause["paused_at"]
        assert pause["paused_by"] == "alice@a.example" and pause["reason"] == "runaway"
        # The polite session ended within the grace: it is never killed.
        assert f.daemon.received("session_kill", session_id=polite.id) == []
        for agent in (polite, stubborn):
            ended = await _status(admin, f"/api/v1/sessions/{agent.id}")
            assert ended["status"] == "exited"

        # The task the killed session held went back to pending and stays there: paused.
        fresh = await f.session("fresh")
        waiting = await f.task("new work")
        for task in (held, waiting):
            current = await _status(admin, f"/api/v1/tasks/{task['id']}")
            assert current["status"] == "pending", current
        asked = await admin.post(f"/api/v1/tasks/{waiting['id']}/auto-assign")
        assert asked.status_code == 409 and "paused" in asked.json()["detail"]
        by_agent = await fresh.client.post(
            f"/tasks/{waiting['id']}/assign", json={"session_name": "fresh"}
        )
        assert by_agent.status_code == 409, by_agent.text
        assert f.daemon.received("task_assigned", session_id=fresh.id) == []
        # A person can still hand a task out by hand.
        manual = await f.assign(held["id"], "fresh")
        assert manual["status"] == "assigned"

        resumed = await admin.post(f"/api/v1/projects/{project_id}/resume")
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["projects"] == [
            {"project_id": project_id, "paused_at": None, "paused_by": None, "reason": None}
        ]
        shown = await _status(admin, f"/api/v1/projects/{project_id}")
        assert shown["assignment_paused_at"] is None
        await f.session("second")

        async def placed() -> bool:
            current = await _status(admin, f"/api/v1/tasks/{waiting['id']}")
            return bool(current["status"] == "assigned")

        await wait_until(placed, timeout=10, message="resume never let auto-assignment run")

    [paused] = await audit_rows(hub, "project.assignment_paused")
    assert paused.project_id == project_id and paused.details["reason"] == "runaway"
    [stopped] = await audit_rows(hub, "agents.stopped")
    assert stopped.actor_id == "alice@a.example" and stopped.target_id == project_id
    assert stopped.details["live_before"] == 2 and stopped.details["live_after"] == 0
    assert stopped.details["stopped"] == 1 and stopped.details["killed"] == 1
    killed = await audit_rows(hub, "session.killed")
    assert [r.target_id for r in killed] == [stubborn.id]
    [resumed_row] = await audit_rows(hub, "project.assignment_resumed")
    assert resumed_row.project_id == project_id


async def test_a_second_stop_does_not_signal_or_kill_twice(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        agents = [await f.session("a"), await f.session("b")]
        url = f"/api/v1/projects/{project_id}/stop-all"
        first = asyncio.create_task(admin.post(url))
        for agent in agents:
            await _ctrl_c(f.daemon, agent.id)
        second = await admin.post(url, json={})
        assert second.status_code == 200, second.text
        assert second.json()["already_stopping"] == 2 and second.json()["killed"] == 0
        for agent in agents:
            await f.daemon.expect("session_kill", session_id=agent.id)
            await f.daemon.closed(agent.id)
        assert (await first).json()["killed"] == 2
        await f.daemon.barrier()
        for agent in agents:  # ``expect`` took the one of each; nothing came twice
            assert f.daemon.received("session_input", session_id=agent.id) == []
            assert f.daemon.received("session_kill", session_id=agent.id) == []
    # The first pause time is kept: one pause row, two stop rows.
    assert len(await audit_rows(hub, "project.assignment_paused")) == 1
    assert len(await audit_rows(hub, "agents.stopped")) == 2


async def test_a_daemon_gone_during_the_grace_counts_as_not_reached(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        agent = await f.session("deaf")
        stop = asyncio.create_task(admin.post(f"/api/v1/projects/{project_id}/stop-all"))
        await _ctrl_c(f.daemon, agent.id)
        await f.daemon.ws.close()  # the server drops off before the kill can be sent
        body = (await stop).json()
    assert (body["stopped"], body["killed"], body["not_reached"]) == (0, 0, 1)
    assert body["not_reached_ids"] == [agent.id]
    assert await audit_rows(hub, "session.killed") == []


async def test_a_session_out_of_reach_is_killed_when_its_daemon_returns_while_paused(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        agent = await f.session("away")
    stop = await admin.post(f"/api/v1/projects/{project_id}/stop-all")
    assert stop.json()["not_reached_ids"] == [agent.id]
    alive = [{"session_id": agent.id, "offset": 0, "pid": 4242}]
    async with FakeDaemon.connect(hub, f.server["api_key"], sessions=alive) as back:
        await back.expect("session_kill", session_id=agent.id)
        await back.closed(agent.id, exit_code=None)
        await back.barrier()
        ended = await _status(admin, f"/api/v1/sessions/{agent.id}")
        assert ended["status"] == "exited"
    [row] = await audit_rows(hub, "session.killed")
    assert row.target_id == agent.id and row.details == {"by": "stop-all", "on_reconnect": True}

    # Resumed, a returning session is the owner's business again: nothing is killed.
    await admin.post(f"/api/v1/projects/{project_id}/resume")
    async with fleet(hub, admin, project_id, "m-two") as f2:
        later = await f2.session("later")
    async with FakeDaemon.connect(
        hub, f2.server["api_key"], sessions=[{"session_id": later.id, "offset": 0}]
    ) as back:
        await back.barrier()
        assert back.received("session_kill") == []


async def _offline_session(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> str:
    """A running session whose server then disconnected (within the lost-session window)."""
    async with fleet(hub, admin, project_id, "m-offline") as gone:
        agent = await gone.session("far-away")
        return agent.id


async def test_tenant_wide_stop_reports_sessions_it_cannot_reach(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    other = await admin.post("/api/v1/projects", json={"name": "beta"})
    beta = other.json()["id"]
    far = await _offline_session(hub, admin, project_id)
    async with fleet(hub, admin, beta, "m-beta") as f:
        near = await f.session("near")
        async with login_cookie_socket(hub, beta) as ws:
            stop = asyncio.create_task(admin.post("/api/v1/stop-all", json={"reason": "drill"}))
            await _ctrl_c(f.daemon, near.id)
            await f.daemon.closed(near.id)
            event = await _next_of(ws, "assignment_pause")
            assert event["pause"]["project_id"] == beta and event["pause"]["paused_at"]
            body = (await stop).json()
            resumed = await admin.post("/api/v1/resume")
            event = await _next_of(ws, "assignment_pause")
            assert event["pause"] == {
                "project_id": beta,
                "paused_at": None,
                "paused_by": None,
                "reason": None,
            }
    assert body["sessions"] == 2 and body["stopped"] == 1 and body["not_reached"] == 1
    assert body["not_reached_ids"] == [far]
    assert sorted(p["project_id"] for p in body["projects"]) == sorted([project_id, beta])
    assert resumed.status_code == 200 and len(resumed.json()["projects"]) == 2
    [row] = await audit_rows(hub, "agents.stopped")
    assert row.target_type == "tenant" and row.project_id is None
    assert row.details["projects"] == 2 and row.details["not_reached"] == 1
    assert row.details["live_after"] == 1  # the unreachable one


@asynccontextmanager
async def login_cookie_socket(hub: RunningHub, project_id: str) -> AsyncIterator[ClientConnection]:
    """Alice's dashboard, open on ``project_id``."""
    cookie = await login_cookie(hub, "alice@a.example")
    async with dashboard_socket(hub, cookie, project_id) as ws:
        yield ws


async def _next_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = await recv_json(ws)
        if frame["type"] == kind:
            return frame


async def test_who_may_stop_and_resume(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    stop = f"/api/v1/projects/{project_id}/stop-all"
    async with AsyncExitStack() as stack:
        await _roles_and_keys(hub, admin, project_id, stack)
    too_long = await admin.post(stop, json={"reason": "x" * 501})
    assert too_long.status_code == 422 and "reason" in too_long.text
    unknown = await admin.post(stop, json={"why": "typo"})
    assert unknown.status_code == 422 and "why" in unknown.text
    assert (await admin.post("/api/v1/projects/nope/stop-all")).status_code == 404


async def _roles_and_keys(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, stack: AsyncExitStack
) -> None:
    stop, resume = (
        f"/api/v1/projects/{project_id}/stop-all",
        f"/api/v1/projects/{project_id}/resume",
    )

    def closed_later(client: httpx.AsyncClient) -> httpx.AsyncClient:
        stack.push_async_callback(client.aclose)
        return client

    async def user(email: str, role: str | None = None) -> httpx.AsyncClient:
        return closed_later(await add_user(hub, admin, email, project_id if role else None, role))

    for role in ("viewer", "member"):
        user_client = await user(f"{role}@a.example", role)
        for url in (stop, resume, "/api/v1/stop-all", "/api/v1/resume"):
            res = await user_client.post(url)
            assert res.status_code == 403, (role, url, res.text)
    outsider = await user("outsider@a.example")
    assert (await outsider.post(stop)).status_code == 404
    other = closed_later(await tenant_b(hub))
    for url in (stop, resume):
        assert (await other.post(url)).status_code == 404
    owner = await user("owner@a.example", "owner")
    assert (await owner.post("/api/v1/stop-all")).status_code == 403  # not a tenant admin
    ok = await owner.post(stop, json={"reason": "owner's call"})
    assert ok.status_code == 200 and ok.json()["sessions"] == 0
    assert (await owner.post(resume)).status_code == 200

    narrow = await make_key(admin, ["tasks:read", "tasks:write", "sessions:write"])
    async with key_client(hub, narrow["key"]) as api:
        assert (await api.post(stop)).status_code == 403
    scoped = await make_key(admin, ["admin"], project_id=project_id)
    async with key_client(hub, scoped["key"]) as api:
        assert (await api.post("/api/v1/stop-all")).status_code == 403  # one project's key
        assert (await api.post(stop)).status_code == 200
