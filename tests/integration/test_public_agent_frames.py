"""The public agent v0.20 on ``/ws/server``: a plain WebSocket client replays the frames it sends
(tests/fixtures/public_agent_v020) against a real hub."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pyte
import pytest
from websockets.asyncio.client import ClientConnection

from tests.integration.helpers import (
    FakeDaemon,
    ViewerClient,
    login_cookie,
    recording,
    recv_json,
    ws_connect,
)
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub
from tests.support import wait_until

FRAMES = Path(__file__).parents[1] / "fixtures" / "public_agent_v020" / "frames"
COLS, ROWS = 80, 24  # the size the output was recorded at


def fixture(name: str, **values: str) -> Any:
    text = (FRAMES / name).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return json.loads(text)


def output_bytes(frames: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(f["data"]) for f in frames)


def screen_after(data: bytes) -> pyte.Screen:
    screen = pyte.Screen(COLS, ROWS)
    pyte.ByteStream(screen).feed(data)
    return screen


def cells(screen: pyte.Screen) -> list[list[Any]]:
    """Every cell with its colours and attributes, and the cursor."""
    rows = [[screen.buffer[y][x] for x in range(COLS)] for y in range(ROWS)]
    return [*rows, [screen.cursor.x, screen.cursor.y, screen.cursor.hidden]]


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"heartbeat_timeout": 60}


async def _next(ws: ClientConnection, type_: str) -> dict[str, Any]:
    while True:
        frame = await recv_json(ws)
        if frame["type"] == type_:
            return frame


async def _public_session(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, ws: ClientConnection
) -> str:
    """Authenticate as the public agent does and run a session that printed the recorded output."""
    server = await register_server(admin, project_id)
    await ws.send(json.dumps(fixture("auth.json", api_key=server["api_key"])))
    assert (await recv_json(ws))["type"] == "auth_ok"
    body = {"server_id": server["id"], "name": "pub", "working_directory": "/srv/api",
            "cols": COLS, "rows": ROWS}  # fmt: skip
    res = await admin.post("/api/v1/sessions", json=body)
    assert res.status_code == 201, res.text
    sid: str = res.json()["id"]
    await _next(ws, "session_start")
    for name in ("session_started.json", "session_screen.json"):
        await ws.send(json.dumps(fixture(name, session_id=sid)))
    frames = fixture("session_output.json", session_id=sid)
    for frame in frames:
        await ws.send(json.dumps(frame))
    data = output_bytes(frames)

    async def recorded_whole() -> bool:
        return await recording(admin, sid) == data

    await wait_until(recorded_whole, timeout=10, message="the whole output recorded")
    return sid


async def test_text_view_of_a_public_agent_session(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    other = await register_server(admin, project_id, "machine-2")
    async with (
        ws_connect(hub.ws_url + "/ws/server") as ws,
        FakeDaemon.connect(hub, other["api_key"]) as intruder,
    ):
        sid = await _public_session(hub, admin, project_id, ws)
        url = f"/api/v1/sessions/{sid}/scrollback"
        for answer, status in (("scrollback_captured.json", 200),
                               ("scrollback_captured_error.json", 409)):  # fmt: skip
            asked = asyncio.create_task(admin.get(url))
            await _next(ws, "capture_scrollback")
            # Another server's daemon cannot answer for this session.
            await intruder.send(
                {"type": "scrollback_captured", "session_id": sid, "text": "forged"}
            )
            await intruder.barrier()
            reply = fixture(answer, session_id=sid)
            await ws.send(json.dumps(reply))
            res = await asked
            assert res.status_code == status, res.text
            if status == 200:
                assert res.text == "\n".join(reply["lines"])
                assert "orange truecolor wide: 中文 done" in res.text
            else:
                assert "Could not capture scrollback" in res.json()["detail"]
        await ws.send(json.dumps(fixture("session_closed.json", session_id=sid)))

        async def exited() -> bool:
            status: str = (await admin.get(f"/api/v1/sessions/{sid}")).json()["status"]
            return status == "exited"

        await wait_until(exited, timeout=10, message="the session exited")
        assert (await admin.get(f"/api/v1/sessions/{sid}")).json()["exit_code"] == 0


async def test_viewer_of_a_public_agent_session_starts_with_its_screen(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with ws_connect(hub.ws_url + "/ws/server") as ws:
        sid = await _public_session(hub, admin, project_id, ws)
        before = output_bytes(fixture("session_output.json", session_id=sid))
        cookie = await login_cookie(hub, "alice@a.example")
        async with ViewerClient.open(hub, sid, cookie=cookie) as viewer:
            await viewer.expect("reset")
            snap = await viewer.expect("snapshot")
            assert snap["offset"] == len(before)
            assert (snap["cols"], snap["rows"]) == (COLS, ROWS)
            shown = base64.b64decode(snap["screen"])
            # What tmux showed at the join, colours and cursor included.
            assert cells(screen_after(shown)) == cells(screen_after(before))
            assert (snap["cursor_x"], snap["cursor_y"]) == (12, 22)
            # Then the live tail from exactly there.
            after = fixture("session_output_after_join.json", session_id=sid)
            for frame in after:
                await ws.send(json.dumps(frame))
            tail = output_bytes(after)
            await viewer.read_to(len(before) + len(tail))
            assert bytes(viewer.segments[-1].data) == tail
            assert cells(screen_after(shown + tail)) == cells(screen_after(before + tail))
            assert "after-join" in "\n".join(screen_after(shown + tail).display)
