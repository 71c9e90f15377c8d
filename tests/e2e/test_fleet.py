"""Acceptance 3: real hub and daemon processes over real WebSockets."""

from __future__ import annotations

import json
import signal
import stat
from typing import Any

import httpx
import pytest

from tests.e2e.processes import DaemonProcess, HubProcess, api_client
from tests.support import wait_sync

pytestmark = pytest.mark.e2e


def server_rows(client: httpx.Client, project_id: str) -> list[dict[str, Any]]:
    res = client.get("/api/v1/servers", params={"project_id": project_id})
    assert res.status_code == 200, res.text
    rows: list[dict[str, Any]] = res.json()["servers"]
    return rows


def status_of(client: httpx.Client, project_id: str) -> str | None:
    rows = server_rows(client, project_id)
    return rows[0]["status"] if rows else None


def new_project(client: httpx.Client) -> str:
    res = client.post("/api/v1/projects", json={"name": "fleet"})
    assert res.status_code == 201, res.text
    pid: str = res.json()["id"]
    return pid


def new_token(client: httpx.Client, project_id: str) -> str:
    res = client.post("/api/v1/servers/tokens", json={"project_id": project_id})
    assert res.status_code == 201, res.text
    token: str = res.json()["token"]
    return token


def test_register_liveness_kill_and_restart(hub_process: HubProcess, daemon_factory: Any) -> None:
    client = api_client(hub_process)
    hub_process.closing.append(client)
    project = new_project(client)
    token = new_token(client, project)
    daemon: DaemonProcess = daemon_factory()

    registered = daemon.register(token)
    assert registered.returncode == 0, registered.stderr
    assert stat.S_IMODE(daemon.config.stat().st_mode) == 0o600

    # The token is one-time: a second use is refused by the hub with 401.
    again = daemon_factory("second").register(token)
    assert again.returncode != 0
    assert "invalid, already used or expired" in again.stderr + again.stdout
    raw = client.post(
        "/api/v1/servers/register",
        json={"name": "x", "registration_token": token},
    )
    assert raw.status_code == 401

    daemon.start()
    wait_sync(lambda: status_of(client, project) == "online", 2.0, "server online")
    first = server_rows(client, project)[0]
    assert first["system_info"].get("cpu_count", 0) >= 1
    assert first["agent_version"]

    daemon.kill(signal.SIGKILL)
    timeout = float(daemon.env["ORCHESTRATIA_HEARTBEAT_TIMEOUT"])
    wait_sync(lambda: status_of(client, project) == "disconnected", timeout + 1, "disconnected")

    daemon.start()
    wait_sync(lambda: status_of(client, project) == "online", 5.0, "online after restart")
    rows = server_rows(client, project)
    assert len(rows) == 1 and rows[0]["id"] == first["id"]


def test_daemon_reconnects_after_hub_restart(hub_process: HubProcess, daemon_factory: Any) -> None:
    client = api_client(hub_process)
    hub_process.closing.append(client)
    project = new_project(client)
    daemon: DaemonProcess = daemon_factory()
    assert daemon.register(new_token(client, project)).returncode == 0
    daemon.start()
    wait_sync(lambda: status_of(client, project) == "online", 2.0, "server online")

    def connected_since() -> str | None:
        out = daemon.status()
        if out.returncode != 0:
            return None
        state = json.loads(out.stdout)
        return state["last_connected_at"] if state["state"] == "connected" else None

    before = wait_sync(connected_since, 5, "daemon reports connected")
    hub_process.kill(signal.SIGKILL)
    wait_sync(lambda: connected_since() is None, 10, "daemon notices the hub is gone")
    hub_process.start()
    after = wait_sync(
        lambda: (c := connected_since()) is not None and c != before and c,
        35,
        "daemon reconnects by itself",
    )
    assert after != before
    client = api_client(hub_process)
    hub_process.closing.append(client)
    wait_sync(lambda: status_of(client, project) == "online", 5, "online after hub restart")
    log = daemon.log.read_text()
    assert "reconnecting in" in log, log[-2000:]
