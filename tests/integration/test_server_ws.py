"""``/ws/server``: the daemon channel: auth, heartbeats, protocol errors, liveness (SPEC §5)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.integration.helpers import (
    FakeDaemon,
    audit_rows,
    authenticate,
    close_code,
    heartbeat_ok,
    recv_json,
    server_row,
    start_session,
    wait_for_status,
    ws_connect,
)
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub
from tests.support import wait_until

MAX_FRAME = 2048


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"auth_timeout": 0.5, "max_ws_frame_bytes": MAX_FRAME}


def _url(hub: RunningHub) -> str:
    return hub.ws_url + "/ws/server"


async def _expect_error(ws: ClientConnection, code: str) -> dict[str, Any]:
    frame = await recv_json(ws)
    assert frame["type"] == "error" and frame["code"] == code, frame
    assert frame["message"]
    return frame


async def test_auth_hello_and_heartbeat_bring_server_online(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with ws_connect(_url(hub)) as ws:
        ok = await authenticate(ws, server["api_key"])
        assert ok["server_id"] == server["id"]
        assert ok["protocol"] == 2 and ok["heartbeat_interval"] > 0
        hello = {
            "type": "hello",
            "version": "9.9.9",
            "capabilities": ["claude", "aider"],
            "system_info": {"cpu_percent": 1.0},
            "repos": {"web": "/srv/web"},
            "sessions": [],
        }
        await ws.send(json.dumps(hello))
        await heartbeat_ok(ws, {"cpu_percent": 42.0, "memory_percent": 10.0})

        async def beat_written() -> dict[str, Any] | None:
            # Acked at once; written with the hub's next batch of heartbeats.
            row = await server_row(admin, server["id"])
            return (
                row if row["system_info"] == {"cpu_percent": 42.0, "memory_percent": 10.0} else None
            )

        row = await wait_until(beat_written, message="heartbeat written")
        assert row["status"] == "online"
        assert row["agent_version"] == "9.9.9"
        assert row["capabilities"] == ["claude", "aider"]
        assert row["repos"] == {"web": "/srv/web"}
        assert row["last_seen"] is not None
    await wait_for_status(admin, server["id"], "disconnected")


async def test_auth_timeout_closes_4000(hub: RunningHub, server: dict[str, Any]) -> None:
    async with ws_connect(_url(hub)) as ws:
        frame = await _expect_error(ws, "auth_timeout")
        assert frame["fatal"] is True
        assert await close_code(ws) == 4000


@pytest.mark.parametrize(
    "first",
    [
        {"type": "heartbeat", "system_info": {}},
        {"type": "auth"},
        {"type": "auth", "api_key": "orc_x", "surprise": 1},
        "not json",
    ],
    ids=["heartbeat", "no-key", "extra-field", "garbage"],
)
async def test_first_frame_must_be_auth(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any], first: Any
) -> None:
    async with ws_connect(_url(hub)) as ws:
        await ws.send(first if isinstance(first, str) else json.dumps(first))
        frame = await _expect_error(ws, "auth_required")
        assert frame["fatal"] is True
        assert await close_code(ws) == 4002
    assert (await server_row(admin, server["id"]))["status"] == "disconnected"


async def test_bad_key_is_refused_and_audited(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    bad_key = server["api_key"][:-4] + "zzzz"
    async with ws_connect(_url(hub)) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": bad_key, "protocol": 2}))
        await _expect_error(ws, "unauthorized")
        assert await close_code(ws) == 4401
    [event] = await audit_rows(hub, "server.key_rejected")
    assert event.details["key_prefix"] == bad_key[:8]
    assert bad_key not in json.dumps(event.details)
    assert event.ip == "127.0.0.1"
    assert (await server_row(admin, server["id"]))["status"] == "disconnected"


BAD_FRAMES: list[tuple[str, str, str]] = [
    ("malformed-json", "{not json", "json"),
    ("unknown-field", json.dumps({"type": "heartbeat", "system_info": {}, "bogus": 1}), "bogus"),
    ("unknown-type", json.dumps({"type": "launch_missiles"}), "launch_missiles"),
    ("wrong-type", json.dumps({"type": "heartbeat", "system_info": "lots"}), "system_info"),
    ("hello-wrong-types", json.dumps({"type": "hello", "version": 3, "repos": []}), "hello"),
    ("not-an-object", json.dumps([1, 2, 3]), "frame"),
    ("no-type", json.dumps({"system_info": {}}), "type"),
    ("nul-in-string", json.dumps({"type": "hello", "version": "1.0\x00"}), "NUL"),
]


async def test_bad_frames_get_error_and_socket_survives(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with ws_connect(_url(hub), compression=None) as ws:
        await authenticate(ws, server["api_key"])
        for name, raw, mentions in BAD_FRAMES:
            await ws.send(raw)
            frame = await _expect_error(ws, "bad_frame")
            assert mentions.lower() in frame["message"].lower(), (name, frame)
            assert frame["fatal"] is False
            await heartbeat_ok(ws)

        await ws.send(b"\x00\x01binary")
        frame = await _expect_error(ws, "unsupported_frame")
        assert "binary" in frame["message"]
        await heartbeat_ok(ws)

        await ws.send(json.dumps({"type": "heartbeat", "system_info": {"x": "y" * MAX_FRAME}}))
        frame = await _expect_error(ws, "frame_too_large")
        assert "size" in frame["message"]
        await heartbeat_ok(ws, {"after": "oversize"})

        async def stored() -> bool:  # with the hub's next batch of heartbeats
            row = await server_row(admin, server["id"])
            return bool(row["system_info"] == {"after": "oversize"})

        await wait_until(stored, message="heartbeat after the oversize frame stored")


@pytest.mark.parametrize("hub_overrides", [{"heartbeat_timeout": 0.5}])
async def test_silent_protocol2_daemon_is_closed_4408(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with ws_connect(_url(hub)) as ws:
        await authenticate(ws, server["api_key"], protocol=2)
        assert (await server_row(admin, server["id"]))["status"] == "online"
        frame = await _expect_error(ws, "idle_timeout")
        assert frame["fatal"] is True
        assert await close_code(ws) == 4408
    await wait_for_status(admin, server["id"], "disconnected")


@pytest.mark.parametrize(
    "hub_overrides", [{"heartbeat_timeout": 0.3, "legacy_heartbeat_timeout": 0.3}]
)
async def test_silent_legacy_daemon_stays_connected_and_online(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    legacy = await register_server(admin, project_id, machine_id="legacy")
    rest_only = await register_server(admin, project_id, machine_id="rest-only")
    async with ws_connect(_url(hub)) as ws:
        ok = await authenticate(ws, legacy["api_key"], protocol=None)
        assert ok["protocol"] == 1
        # A REST-only server seen *after* the legacy socket's last frame: once the sweep has
        # marked it disconnected, the same sweep was free to judge the legacy server too.
        async with httpx.AsyncClient(base_url=hub.url) as anon:
            res = await anon.post(
                "/api/v1/servers/heartbeat", json={}, headers={"X-API-Key": rest_only["api_key"]}
            )
            assert res.status_code == 200
        await wait_for_status(admin, rest_only["id"], "disconnected")
        assert (await server_row(admin, legacy["id"]))["status"] == "online"
        await heartbeat_ok(ws)  # and the hub did not close the silent socket
    await wait_for_status(admin, legacy["id"], "disconnected")


async def test_second_connection_replaces_the_first(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with ws_connect(_url(hub)) as first:
        await authenticate(first, server["api_key"])
        async with ws_connect(_url(hub)) as second:
            await authenticate(second, server["api_key"])
            assert await close_code(first) == 4409
            with pytest.raises(ConnectionClosed):
                await first.send(json.dumps({"type": "heartbeat"}))
            await heartbeat_ok(second)
            assert (await server_row(admin, server["id"]))["status"] == "online"
            # The replaced socket's teardown must not mark the server offline afterwards.
            await heartbeat_ok(second)
            assert (await server_row(admin, server["id"]))["status"] == "online"
    await wait_for_status(admin, server["id"], "disconnected")


async def test_revoked_key_closes_live_socket(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with ws_connect(_url(hub)) as ws:
        await authenticate(ws, server["api_key"])
        res = await admin.post(f"/api/v1/servers/{server['id']}/revoke-keys")
        assert res.status_code == 204
        assert await close_code(ws) == 4401
    async with ws_connect(_url(hub)) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": server["api_key"]}))
        await _expect_error(ws, "unauthorized")
        assert await close_code(ws) == 4401
    [event] = await audit_rows(hub, "server.key_rejected")  # recorded before the error frame
    assert event.target_id == server["id"] and event.details["revoked"] is True


INT32_OVERFLOW = 2**31
# (frame, the field the error must name): integers past a 32-bit column or negative counts.
OUT_OF_RANGE_FRAMES: list[tuple[dict[str, Any], str]] = [
    ({"type": "session_started", "pid": INT32_OVERFLOW}, "pid"),
    ({"type": "session_started", "pid": -1}, "pid"),
    (
        {"type": "session_output", "data": "eA==", "redactions": {"github": INT32_OVERFLOW}},
        "github",
    ),
    ({"type": "session_output", "data": "eA==", "redactions": {"github": -3}}, "github"),
    ({"type": "session_output", "data": "eA==", "offset": 2**63}, "offset"),
    ({"type": "session_closed", "exit_code": 2**40}, "exit_code"),
    ({"type": "session_closed", "exit_code": 0, "final_offset": -1}, "final_offset"),
    ({"type": "session_gap", "offset": -5, "reason": "x"}, "offset"),
    ({"type": "session_recovered", "tmux_name": "t", "pid": INT32_OVERFLOW}, "pid"),
]


@pytest.mark.parametrize("hub_overrides", [{"heartbeat_timeout": 60}])  # fake daemons are quiet
async def test_out_of_range_integers_get_an_error_and_socket_survives(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    async with FakeDaemon.connect(hub, server["api_key"]) as daemon:
        sid = (await start_session(admin, daemon))["id"]
        hello = {"session_id": sid, "offset": 0, "pid": INT32_OVERFLOW, "exit_code": 2**40}
        cases = [
            *OUT_OF_RANGE_FRAMES,
            ({"type": "hello", "version": "1", "sessions": [hello]}, "pid"),
        ]
        for body, field in cases:
            frame = {"session_id": sid, **body} if body["type"].startswith("session_") else body
            await daemon.send(frame)
            error = await daemon.expect("error")
            assert error["code"] == "bad_frame" and error["fatal"] is False, (body, error)
            assert field in error["message"], (body, error)
            await daemon.barrier()
        # Nothing was half-applied and the socket still carries a whole session's life.
        await daemon.stream(sid, b"still here\r\n")
        # The largest counts a frame may carry, twice: the session's total saturates.
        for offset in (12, 13):
            await daemon.send({"type": "session_output", "session_id": sid, "data": "eA==",
                               "offset": offset, "redactions": {"github": 2**31 - 1}})  # fmt: skip
            await daemon.wait_acked(sid, offset + 1)
        await daemon.closed(sid, exit_code=-9)
        await daemon.barrier()
        row = (await admin.get(f"/api/v1/sessions/{sid}")).json()
        assert row["status"] == "exited" and row["exit_code"] == -9 and row["pid"] == 4242
        assert row["output_offset"] == len(b"still here\r\n") + 2
