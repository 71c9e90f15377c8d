"""``/ws/dashboard``: cookie auth, Origin check, project subscription and live server updates."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.helpers import (
    authenticate,
    heartbeat_ok,
    login_cookie,
    recv_json,
    ws_connect,
)
from tests.integration.hub_setup import bearer_client, create_admin, register_server
from tests.integration.running_hub import RunningHub

ALICE = "alice@a.example"


def _url(hub: RunningHub) -> str:
    return hub.ws_url + "/ws/dashboard"


def _headers(hub: RunningHub, cookie: str | None, origin: str | None = "") -> dict[str, str]:
    headers: dict[str, str] = {}
    if cookie is not None:
        headers["Cookie"] = f"orc_session={cookie}"
    if origin is not None:
        headers["Origin"] = origin or hub.url
    return headers


async def _refusal(hub: RunningHub, headers: dict[str, str]) -> int:
    """The HTTP status of a refused handshake, or the close code of an accepted-then-closed one."""
    try:
        async with ws_connect(_url(hub), headers) as ws:
            await ws.send(json.dumps({"type": "subscribe", "project_id": "x"}))
            await recv_json(ws)
    except InvalidStatus as exc:
        return exc.response.status_code
    except ConnectionClosed as exc:
        assert exc.rcvd is not None
        return exc.rcvd.code
    raise AssertionError("the dashboard socket was not refused")


async def _recv_until(
    ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Skip frames (other servers' updates, repeats) until one matches; each read has a deadline."""
    for _ in range(50):
        frame = await recv_json(ws)
        if wanted(frame):
            return frame
    raise AssertionError("no matching frame in the first 50")


def _update_for(server_id: str, status: str) -> Callable[[dict[str, Any]], bool]:
    def match(frame: dict[str, Any]) -> bool:
        return (
            frame.get("type") == "server_update"
            and frame["server"]["id"] == server_id
            and frame["server"]["status"] == status
        )

    return match


async def _subscribe(ws: ClientConnection, project_id: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "subscribe", "project_id": project_id}))
    frame = await recv_json(ws)
    assert frame == {"type": "subscribed", "project_id": project_id}, frame
    return frame


async def test_needs_a_session_cookie(hub: RunningHub, admin: httpx.AsyncClient) -> None:
    assert await _refusal(hub, _headers(hub, None)) in (403, 4401)
    assert await _refusal(hub, _headers(hub, "orcu_forged")) in (403, 4401)
    # API keys are for the REST API: neither as the cookie nor as a bearer header.
    made = await admin.post("/api/v1/api-keys", json={"name": "k", "scopes": ["admin"]})
    key = made.json()["key"]
    assert await _refusal(hub, _headers(hub, key)) in (403, 4401)
    bearer = {**_headers(hub, None), "Authorization": f"Bearer {key}"}
    assert await _refusal(hub, bearer) in (403, 4401)
    # Logging out kills the cookie for the socket too.
    cookie = await login_cookie(hub, ALICE)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        res = await client.post(
            "/api/v1/auth/logout", headers={"Authorization": f"Bearer {cookie}"}
        )
        assert res.status_code == 204
    assert await _refusal(hub, _headers(hub, cookie)) in (403, 4401)


async def test_checks_the_origin(hub: RunningHub, admin: httpx.AsyncClient) -> None:
    cookie = await login_cookie(hub, ALICE)
    assert await _refusal(hub, _headers(hub, cookie, "https://evil.example")) in (403, 4403)
    assert await _refusal(hub, _headers(hub, cookie, None)) in (403, 4403)
    lookalike = hub.url.replace("127.0.0.1", "127.0.0.1.evil.example")
    assert await _refusal(hub, _headers(hub, cookie, lookalike)) in (403, 4403)
    async with ws_connect(_url(hub), _headers(hub, cookie)) as ws:
        res = await admin.get("/api/v1/projects")
        assert res.status_code == 200
        await ws.send(json.dumps({"type": "subscribe", "project_id": "nope"}))
        frame = await recv_json(ws)
        assert frame["type"] == "error"  # accepted and talking, unlike the refusals above


async def test_subscribe_then_live_updates(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    one = await register_server(admin, project_id, machine_id="m-1")
    two = await register_server(admin, project_id, machine_id="m-2")
    cookie = await login_cookie(hub, ALICE)
    async with ws_connect(_url(hub), _headers(hub, cookie)) as dash:
        await _subscribe(dash, project_id)
        initial = [await recv_json(dash), await recv_json(dash)]
        assert {f["type"] for f in initial} == {"server_update"}
        assert {f["server"]["id"] for f in initial} == {one["id"], two["id"]}
        assert {f["server"]["status"] for f in initial} == {"disconnected"}

        async with ws_connect(hub.ws_url + "/ws/server") as daemon:
            await authenticate(daemon, one["api_key"])
            online = await _recv_until(dash, _update_for(one["id"], "online"))
            assert online["server"]["project_id"] == project_id
            await heartbeat_ok(daemon, {"cpu_percent": 77.0})
            info = await _recv_until(
                dash,
                lambda f: (
                    f.get("type") == "server_update"
                    and f["server"]["system_info"] == {"cpu_percent": 77.0}
                ),
            )
            assert info["server"]["id"] == one["id"]
        gone = await _recv_until(dash, _update_for(one["id"], "disconnected"))
        assert gone["server"]["last_seen"] is not None


async def test_other_tenants_project_leaks_nothing(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    await create_admin(hub, "bob@b.example", "tenant-b")
    bob = await bearer_client(hub, "bob@b.example")
    try:
        res = await bob.post("/api/v1/projects", json={"name": "beta"})
        assert res.status_code == 201
        b_project = res.json()["id"]
        b_server = await register_server(bob, b_project)
    finally:
        await bob.aclose()
    a_server = await register_server(admin, project_id)

    cookie = await login_cookie(hub, ALICE)
    async with ws_connect(_url(hub), _headers(hub, cookie)) as dash:
        await dash.send(json.dumps({"type": "subscribe", "project_id": b_project}))
        frame = await recv_json(dash)
        assert frame["type"] == "error" and frame["code"] == "not_found", frame
        assert b_server["id"] not in json.dumps(frame) and "beta" not in json.dumps(frame)

        # B's server changes state; A, refused, must hear nothing of it.
        async with httpx.AsyncClient(base_url=hub.url) as anon:
            res = await anon.post(
                "/api/v1/servers/heartbeat", json={}, headers={"X-API-Key": b_server["api_key"]}
            )
            assert res.status_code == 200
        await _subscribe(dash, project_id)
        update = await recv_json(dash)
        assert update["type"] == "server_update" and update["server"]["id"] == a_server["id"]
        async with ws_connect(hub.ws_url + "/ws/server") as daemon:
            await authenticate(daemon, b_server["api_key"])
            await heartbeat_ok(daemon)
        await dash.send("probe")
        after = await recv_json(dash)
        assert after["type"] == "error" and after["code"] == "bad_frame", after


BAD_FRAMES = [
    "{not json",
    json.dumps({"type": "subscribe"}),
    json.dumps({"type": "subscribe", "project_id": 7}),
    json.dumps({"type": "subscribe", "project_id": "p", "extra": True}),
    json.dumps({"type": "unsubscribe_everyone", "project_id": "p"}),
    json.dumps({"type": "subscribe", "project_id": "x" * 65}),
    json.dumps({"type": "subscribe", "project_id": ""}),
    json.dumps({"type": "subscribe", "project_id": "\x00"}),
    json.dumps(["subscribe"]),
    "",
]


async def test_malformed_frames_get_error_frames(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    cookie = await login_cookie(hub, ALICE)
    async with ws_connect(_url(hub), _headers(hub, cookie)) as dash:
        for raw in BAD_FRAMES:
            await dash.send(raw)
            frame = await recv_json(dash)
            assert frame["type"] == "error" and frame["code"] == "bad_frame", (raw, frame)
            assert frame["message"]
        await dash.send(b"\x00binary")
        frame = await recv_json(dash)
        assert frame["type"] == "error" and frame["code"] == "unsupported_frame", frame
        await _subscribe(dash, project_id)
