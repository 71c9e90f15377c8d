"""Sessions API against a fake daemon: start, lifecycle, names, limits, roles, tenants, audit."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from orchestratia.hub.db.models import Tenant, TerminalSession
from orchestratia.hub.security import sha256_hex
from orchestratia.hub.services import audit
from orchestratia.hub.services.access import accounts
from tests.integration.helpers import (
    FakeDaemon,
    ViewerClient,
    audit_rows,
    login_cookie,
    start_session,
    viewer_refusal,
)
from tests.integration.hub_setup import PASSWORD, bearer_client, create_admin
from tests.integration.running_hub import RunningHub
from tests.support import wait_until


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"heartbeat_timeout": 60}  # fake daemons don't heartbeat


async def _session(client: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    res = await client.get(f"/api/v1/sessions/{session_id}")
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


async def _wait_status(client: httpx.AsyncClient, session_id: str, status: str) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def probe() -> bool:
        seen.append(await _session(client, session_id))
        return bool(seen[-1]["status"] == status)

    await wait_until(probe, message=f"session {session_id} {status}")
    return seen[-1]


async def _session_count(hub: RunningHub) -> int:
    async with hub.state.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(TerminalSession)) or 0)


def _body(server_id: str, name: str = "work", **extra: Any) -> dict[str, Any]:
    return {"server_id": server_id, "name": name, "working_directory": "/srv/api", **extra}


async def test_start_run_and_exit(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        res = await admin.post(
            "/api/v1/sessions",
            json=_body(
                server["id"],
                "claude-api",
                command="claude",
                agent_type="claude",
                role="orchestrator",
                cols=132,
                rows=43,
            ),
        )
        assert res.status_code == 201, res.text
        created = res.json()
        assert created["status"] == "starting" and created["project_id"] == project_id
        assert created["pid"] is None and created["output_offset"] == 0
        sid = created["id"]

        start = await daemon.expect("session_start", session_id=sid)
        token = start.pop("session_token")
        assert token.startswith("orcs_") and len(token) > 30
        assert start == {
            "type": "session_start",
            "session_id": sid,
            "name": "claude-api",
            "working_directory": "/srv/api",
            "command": "claude",
            "cols": 132,
            "rows": 43,
            "project_id": project_id,
            "agent_type": "claude",
            "role": "orchestrator",
        }
        # The token is the session's own credential: stored hashed, never shown by the API.
        assert token not in res.text
        async with hub.state.sessionmaker() as db:
            row = await db.get(TerminalSession, sid)
            assert row is not None and row.token_hash == sha256_hex(token)

        await daemon.started(sid, pid=31337, tmux_name=f"orchestratia-{sid}")
        running = await _wait_status(admin, sid, "running")
        assert running["pid"] == 31337 and running["tmux_name"] == f"orchestratia-{sid}"
        assert running["started_at"] is not None and running["ended_at"] is None

        listed = await admin.get("/api/v1/sessions", params={"project_id": project_id})
        assert listed.status_code == 200
        assert [(s["id"], s["status"]) for s in listed.json()["sessions"]] == [(sid, "running")]

        await daemon.closed(sid, exit_code=3)
        exited = await _wait_status(admin, sid, "exited")
        assert exited["exit_code"] == 3 and exited["ended_at"] is not None

    [started] = await audit_rows(hub, "session.started")
    assert started.target_id == sid and started.project_id == project_id
    assert started.details["name"] == "claude-api" and started.details["server_id"] == server["id"]
    assert token not in str(started.details)
    # Recorded just after the status change, in its own transaction.
    [ended] = await wait_until(lambda: audit_rows(hub, "session.exited"))
    assert ended.target_id == sid and ended.details == {"exit_code": 3}


async def test_login_shell_is_the_default_command(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        res = await admin.post("/api/v1/sessions", json=_body(server["id"]))
        assert res.status_code == 201, res.text
        start = await daemon.expect("session_start", session_id=res.json()["id"])
        assert start["command"] is None
        assert (start["cols"], start["rows"], start["role"]) == (120, 40, "worker")


async def test_start_needs_a_connected_server(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, server: dict[str, Any]
) -> None:
    res = await admin.post("/api/v1/sessions", json=_body(server["id"]))
    assert res.status_code == 409, res.text
    assert "not connected" in res.json()["detail"]
    async with FakeDaemon.connect(hub, server["api_key"]):
        pass
    # Connected once, gone now: still refused.
    await wait_until(lambda: hub.state.registry.get(server["id"]) is None)
    res = await admin.post("/api/v1/sessions", json=_body(server["id"]))
    assert res.status_code == 409, res.text
    assert await _session_count(hub) == 0
    assert await audit_rows(hub, "session.started") == []
    listed = await admin.get("/api/v1/sessions", params={"project_id": project_id})
    assert listed.json() == {"sessions": []}


async def test_live_names_are_unique_per_project(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        first = await start_session(admin, daemon, "api")
        dup = await admin.post("/api/v1/sessions", json=_body(server["id"], "api"))
        assert dup.status_code == 409, dup.text
        assert "'api'" in dup.json()["detail"]
        assert await _session_count(hub) == 1
        other = await admin.post("/api/v1/sessions", json=_body(server["id"], "api-2"))
        assert other.status_code == 201, other.text

        await daemon.closed(first["id"], exit_code=0)
        await _wait_status(admin, first["id"], "exited")
        again = await admin.post("/api/v1/sessions", json=_body(server["id"], "api"))
        assert again.status_code == 201, again.text
        assert again.json()["id"] != first["id"]


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("cols-zero", {"cols": 0}, "cols"),
    ("rows-huge", {"rows": 100_000}, "rows"),
    ("unknown-field", {"surprise": True}, "surprise"),
    ("bad-name-chars", {"name": "my session!"}, "name"),
    ("name-leading-dash", {"name": "-rf"}, "name"),
    ("bad-role", {"role": "admin"}, "role"),
    ("nul-in-directory", {"working_directory": "/srv\x00"}, "working_directory"),
]


async def test_bad_bodies_are_422_naming_the_field(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        for case, extra, fieldname in BAD_BODIES:
            res = await admin.post("/api/v1/sessions", json=_body(server["id"], **extra))
            assert res.status_code == 422, (case, res.text)
            locs = [err["loc"] for err in res.json()["detail"]]
            assert any(fieldname in loc for loc in locs), (case, locs)
        res = await admin.post("/api/v1/sessions", json={"name": "x", "working_directory": "/"})
        assert res.status_code == 422
        assert ["body", "server_id"] in [err["loc"] for err in res.json()["detail"]]
        await daemon.barrier()
        assert daemon.received("session_start") == []
    assert await _session_count(hub) == 0


async def test_free_plan_allows_three_concurrent_sessions(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with hub.state.sessionmaker() as db:
        await db.execute(update(Tenant).values(plan="free"))
        await db.commit()
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        one = await start_session(admin, daemon, "one")
        await start_session(admin, daemon, "two")
        # Still `starting` counts: the daemon has not answered yet.
        res = await admin.post("/api/v1/sessions", json=_body(server["id"], "three"))
        assert res.status_code == 201, res.text
        fourth = await admin.post("/api/v1/sessions", json=_body(server["id"], "four"))
        assert fourth.status_code == 402, fourth.text
        detail = fourth.json()["detail"]
        assert "3 concurrent session" in detail and "free" in detail
        assert await _session_count(hub) == 3

        await daemon.closed(one["id"], exit_code=0)
        await _wait_status(admin, one["id"], "exited")
        fourth = await admin.post("/api/v1/sessions", json=_body(server["id"], "four"))
        assert fourth.status_code == 201, fourth.text


async def test_close_and_kill(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        closing = await start_session(admin, daemon, "closing")
        killing = await start_session(admin, daemon, "killing")

        res = await admin.post(f"/api/v1/sessions/{closing['id']}/close")
        assert res.status_code == 202, res.text
        assert await daemon.expect("session_close") == {
            "type": "session_close",
            "session_id": closing["id"],
        }
        res = await admin.post(f"/api/v1/sessions/{killing['id']}/kill")
        assert res.status_code == 202, res.text
        assert await daemon.expect("session_kill") == {
            "type": "session_kill",
            "session_id": killing["id"],
        }
        # The hub waits for the daemon's word before calling a session over.
        assert (await _session(admin, closing["id"]))["status"] == "running"
        await daemon.closed(closing["id"], exit_code=0)
        await daemon.closed(killing["id"], exit_code=-9)
        await _wait_status(admin, closing["id"], "exited")
        assert (await _wait_status(admin, killing["id"], "exited"))["exit_code"] == -9

        for sid in (closing["id"], killing["id"]):
            for action in ("close", "kill"):
                res = await admin.post(f"/api/v1/sessions/{sid}/{action}")
                assert res.status_code == 409, res.text
                assert "exited" in res.json()["detail"]
        await daemon.barrier()
        assert daemon.received("session_close") == daemon.received("session_kill") == []

        orphan = await start_session(admin, daemon, "orphan")
    await wait_until(lambda: hub.state.registry.get(server["id"]) is None)
    res = await admin.post(f"/api/v1/sessions/{orphan['id']}/kill")
    assert res.status_code == 409 and "not connected" in res.json()["detail"]

    [closed] = await audit_rows(hub, "session.closed")
    [killed] = await audit_rows(hub, "session.killed")
    assert (closed.target_id, killed.target_id) == (closing["id"], killing["id"])
    assert closed.actor_type == killed.actor_type == "user"


async def test_scrollback_is_captured_by_the_daemon(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        session = await start_session(admin, daemon)
        sid = session["id"]

        async def answer() -> None:
            request = await daemon.expect("capture_scrollback", session_id=sid)
            await daemon.send(
                {
                    "type": "scrollback_captured",
                    "session_id": sid,
                    "request_id": request["request_id"],
                    "text": "$ make test\nall green ✓\n",
                }
            )

        answering = asyncio.create_task(answer())
        res = await admin.get(f"/api/v1/sessions/{sid}/scrollback")
        await answering
        assert res.status_code == 200, res.text
        assert res.text == "$ make test\nall green ✓\n"
        assert res.headers["content-type"].startswith("text/plain")

        await daemon.closed(sid, exit_code=0)
        await _wait_status(admin, sid, "exited")
        res = await admin.get(f"/api/v1/sessions/{sid}/scrollback")
        assert res.status_code == 409 and "/output" in res.json()["detail"]


async def _add_user(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, email: str, role: str
) -> httpx.AsyncClient:
    me = await admin.get("/api/v1/auth/me")
    async with hub.state.sessionmaker() as db:
        await accounts.create_user(
            db, me.json()["tenant_id"], email, PASSWORD, audit.Actor("system")
        )
    res = await admin.post(
        f"/api/v1/projects/{project_id}/members", json={"email": email, "role": role}
    )
    assert res.status_code in (200, 201), res.text
    return await bearer_client(hub, email)


async def test_project_viewer_watches_but_cannot_act(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, server: dict[str, Any]
) -> None:
    viewer = await _add_user(hub, admin, project_id, "vic@a.example", "viewer")
    try:
        async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
            session = await start_session(admin, daemon)
            sid = session["id"]
            assert (await viewer.get(f"/api/v1/sessions/{sid}")).status_code == 200
            listed = await viewer.get("/api/v1/sessions", params={"project_id": project_id})
            assert [s["id"] for s in listed.json()["sessions"]] == [sid]
            assert (await viewer.get(f"/api/v1/sessions/{sid}/output")).status_code == 200

            denied = [
                await viewer.post("/api/v1/sessions", json=_body(server["id"], "mine")),
                await viewer.post(f"/api/v1/sessions/{sid}/close"),
                await viewer.post(f"/api/v1/sessions/{sid}/kill"),
                await viewer.post(f"/api/v1/sessions/{sid}/share", json={}),
            ]
            assert [r.status_code for r in denied] == [403] * 4, [r.text for r in denied]

            # The terminal opens read-only for them.
            cookie = await login_cookie(hub, "vic@a.example")
            async with ViewerClient.open(hub, sid, cookie=cookie, resume=0) as view:
                control = await view.expect("control")
                assert control["read_only"] is True and control["you"] is False
                await view.send({"type": "take_control"})
                assert (await view.expect("error"))["code"] == "read_only"

            await daemon.barrier()
            assert daemon.received("session_start") == []
            assert daemon.received("session_close") == daemon.received("session_kill") == []
        assert await _session_count(hub) == 1
        assert (await _session(admin, sid))["status"] == "running"
    finally:
        await viewer.aclose()


async def test_other_tenant_sees_404(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, server: dict[str, Any]
) -> None:
    await create_admin(hub, "bob@b.example", "tenant-b")
    bob = await bearer_client(hub, "bob@b.example")
    try:
        async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
            session = await start_session(admin, daemon, "secret-work")
            sid = session["id"]
            await daemon.output(sid, b"top secret output", 0)
            await daemon.wait_acked(sid, 17)
            link = await admin.post(f"/api/v1/sessions/{sid}/share", json={})
            assert link.status_code == 201, link.text

            calls: list[tuple[str, str, dict[str, Any] | None]] = [
                ("GET", f"/api/v1/sessions/{sid}", None),
                ("POST", f"/api/v1/sessions/{sid}/close", None),
                ("POST", f"/api/v1/sessions/{sid}/kill", None),
                ("GET", f"/api/v1/sessions/{sid}/output", None),
                ("GET", f"/api/v1/sessions/{sid}/scrollback", None),
                ("POST", f"/api/v1/sessions/{sid}/share", {}),
                ("DELETE", f"/api/v1/share-links/{link.json()['id']}", None),
                ("GET", f"/api/v1/sessions?project_id={project_id}", None),
                ("POST", "/api/v1/sessions", _body(server["id"], "hijack")),
            ]
            for method, url, body in calls:
                res = await bob.request(method, url, json=body)
                assert res.status_code == 404, (method, url, res.text)
                assert "secret" not in res.text, (method, url, res.text)

            bob_cookie = await login_cookie(hub, "bob@b.example")
            assert await viewer_refusal(hub, sid, cookie=bob_cookie) == 4401

            await daemon.barrier()
            for kind in ("session_start", "session_close", "session_kill", "capture_scrollback"):
                assert daemon.received(kind) == [], kind
        assert (await _session(admin, sid))["status"] == "running"
        assert await _session_count(hub) == 1
        assert len(await audit_rows(hub, "share_link.revoked")) == 0
    finally:
        await bob.aclose()
