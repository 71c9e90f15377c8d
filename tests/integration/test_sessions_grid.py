"""The sessions grid's live feed on ``/ws/dashboard``: activity states and screen miniatures from
a daemon's output, "waiting" from the inbox, only to grid pages, and nothing of another tenant."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.integration.helpers import FakeDaemon, login_cookie, recv_json, start_session, ws_connect
from tests.integration.hub_setup import register_server, tenant_b
from tests.integration.running_hub import RunningHub


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    # Fake daemons don't heartbeat; a short idle time and tick keep the test quick.
    return {"heartbeat_timeout": 60, "grid_idle_seconds": 0.6, "grid_tick_seconds": 0.1}


async def _subscribe(hub: RunningHub, project_id: str, *, screens: bool) -> Any:
    cookie = await login_cookie(hub, "alice@a.example")
    ws = ws_connect(
        hub.ws_url + "/ws/dashboard", {"Cookie": f"orc_session={cookie}", "Origin": hub.url}
    )
    return ws, json.dumps({"type": "subscribe", "project_id": project_id, "screens": screens})


async def _until(
    ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool], seen: list[dict[str, Any]]
) -> dict[str, Any]:
    for _ in range(200):
        frame = await recv_json(ws)
        seen.append(frame)
        if wanted(frame):
            return frame
    raise AssertionError(f"no matching frame in {seen[-5:]}")


def _state(sid: str, state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f == {"type": "session_activity", "session_id": sid, "state": state}


def _screen(sid: str, text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: (
        f.get("type") == "session_screen" and f["session_id"] == sid and text in f["lines"]
    )


async def test_states_and_screens_reach_the_grid_and_only_the_grid(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    server = await register_server(admin, project_id)
    bob = await tenant_b(hub)
    b_project = (await bob.post("/api/v1/projects", json={"name": "beta"})).json()["id"]
    b_server = await register_server(bob, b_project, "machine-b")
    seen: list[dict[str, Any]] = []
    async with (
        FakeDaemon.connect(hub, server["api_key"]) as daemon,
        FakeDaemon.connect(hub, b_server["api_key"]) as b_daemon,
    ):
        sid = (await start_session(admin, daemon))["id"]
        b_sid = (await start_session(bob, b_daemon))["id"]
        grid_socket, grid_hello = await _subscribe(hub, project_id, screens=True)
        other_socket, other_hello = await _subscribe(hub, project_id, screens=False)
        async with grid_socket as grid, other_socket as other:
            for ws, hello in ((grid, grid_hello), (other, other_hello)):
                await ws.send(hello)
                await _until(ws, lambda f: f["type"] == "subscribed", seen)
            # Another tenant's session prints first: none of it may reach alice.
            await b_daemon.output(b_sid, b"bob-secret\r\n", 0)
            await daemon.output(sid, b"hello-grid\r\n", 0)
            await _until(grid, _state(sid, "working"), seen)
            await _until(grid, _screen(sid, "hello-grid"), seen)
            await _until(grid, _state(sid, "idle"), seen)
            # A page that is not a grid hears the states, never the screens.
            other_seen: list[dict[str, Any]] = []
            await _until(other, _state(sid, "idle"), other_seen)
            assert not [f for f in other_seen if f["type"] == "session_screen"], other_seen

            # A tool call waits for a person: the session is waiting until it is decided.
            async with httpx.AsyncClient(base_url=hub.url) as agent:
                asked = await agent.post(
                    "/api/v1/server/approvals",
                    headers={"X-API-Key": server["api_key"]},
                    json={"session_id": sid, "agent": "claude", "tool": "Bash",
                          "tool_input": {"command": "make deploy"}},
                )  # fmt: skip
            assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
            await _until(grid, _state(sid, "waiting"), seen)
            page = await admin.get("/sessions", params={"project_id": project_id})
            assert 'data-state="waiting"' in page.text

            # Output does not hide that a person is needed.
            await daemon.output(sid, b"still-going\r\n", len(b"hello-grid\r\n"))
            await _until(grid, _screen(sid, "still-going"), seen)
            await daemon.closed(sid, 0)
            await _until(grid, _state(sid, "exited"), seen)
    await bob.aclose()
    wire = json.dumps(seen)
    assert b_sid not in wire and "bob-secret" not in wire


async def test_another_tenants_project_is_refused_with_screens(
    hub: RunningHub, project_id: str
) -> None:
    bob = await tenant_b(hub)
    b_project = (await bob.post("/api/v1/projects", json={"name": "beta"})).json()["id"]
    await bob.aclose()
    socket, hello = await _subscribe(hub, b_project, screens=True)
    async with socket as ws:
        await ws.send(hello)
        frame = await recv_json(ws)
        assert frame["type"] == "error" and frame["code"] == "not_found", frame


async def test_all_projects_shows_every_project_of_the_tenant_and_no_other(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    second = (await admin.post("/api/v1/projects", json={"name": "second"})).json()["id"]
    bob = await tenant_b(hub)
    b_project = (await bob.post("/api/v1/projects", json={"name": "beta"})).json()["id"]
    servers = [
        await register_server(admin, project_id, "machine-1"),
        await register_server(admin, second, "machine-2"),
        await register_server(bob, b_project, "machine-b"),
    ]
    async with (
        FakeDaemon.connect(hub, servers[0]["api_key"]) as one,
        FakeDaemon.connect(hub, servers[1]["api_key"]) as two,
        FakeDaemon.connect(hub, servers[2]["api_key"]) as other,
    ):
        first_id = (await start_session(admin, one, "first"))["id"]
        second_id = (await start_session(admin, two, "second"))["id"]
        b_id = (await start_session(bob, other, "hidden"))["id"]
        page = await admin.get("/sessions", params={"project_id": "all"})
        assert page.status_code == 200
        assert f'id="session-{first_id}"' in page.text and f'id="session-{second_id}"' in page.text
        assert b_id not in page.text and b_project not in page.text
        assert 'value="all" selected' in page.text
        card = await admin.get(f"/ui/sessions/{second_id}/card", params={"all_projects": "true"})
        assert 'data-field="project">second<' in card.text
        # Another tenant's tile is not there to fetch either.
        assert (await admin.get(f"/ui/sessions/{b_id}/card")).status_code == 404
        one_only = await admin.get("/sessions", params={"project_id": project_id})
        assert first_id in one_only.text and second_id not in one_only.text
    await bob.aclose()


async def test_a_grid_joining_a_followed_project_sees_quiet_sessions_at_once(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    """Another page already follows the project and the session has gone quiet: the grid still
    gets its screen from the recording, without waiting for the session to print again."""
    server = await register_server(admin, project_id)
    seen: list[dict[str, Any]] = []
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]
        other_socket, other_hello = await _subscribe(hub, project_id, screens=False)
        async with other_socket as other:
            await other.send(other_hello)
            await _until(other, lambda f: f["type"] == "subscribed", seen)
            await daemon.output(sid, b"printed-before-the-grid\r\n", 0)
            await _until(other, _state(sid, "idle"), seen)
            grid_socket, grid_hello = await _subscribe(hub, project_id, screens=True)
            async with grid_socket as grid:
                await grid.send(grid_hello)
                await _until(grid, _screen(sid, "printed-before-the-grid"), seen)


@pytest.mark.parametrize(
    "hub_overrides",
    [{"heartbeat_timeout": 60, "grid_tick_seconds": 0.05, "output_batch_seconds": 1.0}],
)
async def test_output_not_yet_stored_still_reaches_a_new_tile(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    """The first output of a session the grid has not drawn yet reaches the tile even while its
    group commit is still pending (the tile is seeded from the recording, which lags)."""
    server = await register_server(admin, project_id)
    seen: list[dict[str, Any]] = []
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]
        grid_socket, grid_hello = await _subscribe(hub, project_id, screens=True)
        async with grid_socket as grid:
            await grid.send(grid_hello)
            await _until(grid, lambda f: f["type"] == "subscribed", seen)
            await daemon.output(sid, b"before-the-commit\r\n", 0)
            await _until(grid, _screen(sid, "before-the-commit"), seen)
            await daemon.output(sid, b"and-after\r\n", len(b"before-the-commit\r\n"))
            frame = await _until(grid, _screen(sid, "and-after"), seen)
            assert frame["lines"] == ["before-the-commit", "and-after"], frame
