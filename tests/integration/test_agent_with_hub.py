"""Our daemon's session runtime against the real hub (in-process) and real tmux.

The hub records what the daemon streams; the recording must equal the program's output exactly,
across a daemon restart in the middle of the stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psutil

from orchestratia.agent.config import AgentConfig
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub
from tests.support import wait_until
from tests.unit.agent_fakes import printed, printer, start_daemon

OUTPUT_PAGE = 1_000_000


async def recording(admin: httpx.AsyncClient, session_id: str) -> bytes:
    out = bytearray()
    while True:
        res = await admin.get(
            f"/api/v1/sessions/{session_id}/output",
            params={"offset": len(out), "limit": OUTPUT_PAGE},
        )
        assert res.status_code == 200, res.text
        assert int(res.headers["X-Orchestratia-Offset"]) == len(out)
        if not res.content:
            return bytes(out)
        out += res.content


async def session_row(admin: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    res = await admin.get(f"/api/v1/sessions/{session_id}")
    assert res.status_code == 200, res.text
    row: dict[str, Any] = res.json()
    return row


async def test_recording_survives_a_daemon_restart(
    hub: RunningHub,
    admin: httpx.AsyncClient,
    project_id: str,
    socket_name: str,
    tmp_path: Path,
) -> None:
    server = await register_server(admin, project_id)
    config = AgentConfig(
        hub_url=hub.url,
        api_key=server["api_key"],
        server_id=server["id"],
        name="build-1",
        heartbeat_interval=1.0,
        tmux_socket=socket_name,
        state_dir=tmp_path / "state",
    )
    lines = 30_000
    first = await start_daemon(config)
    res = await admin.post(
        "/api/v1/sessions",
        json={
            "server_id": server["id"],
            "name": "printer",
            "working_directory": str(tmp_path),
            "command": printer(lines, pause=0.01),
        },
    )
    assert res.status_code == 201, res.text
    session_id = res.json()["id"]

    async def streamed_some() -> bool:
        row = await session_row(admin, session_id)
        return bool(row["status"] == "running" and row["output_offset"] > 200_000)

    await wait_until(streamed_some, timeout=30, message="output recorded")
    pid = (await session_row(admin, session_id))["pid"]
    await first.stop()

    second = await start_daemon(config)
    try:

        async def exited() -> dict[str, Any] | None:
            row = await session_row(admin, session_id)
            return row if row["status"] == "exited" else None

        row = await wait_until(exited, timeout=60, message="session exited")
        assert row["exit_code"] == 0 and row["pid"] == pid
        assert row["tmux_name"] == f"orc-{session_id}"
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        expected = printed(lines)
        assert row["output_offset"] == len(expected)
        assert await recording(admin, session_id) == expected
    finally:
        await second.stop()
