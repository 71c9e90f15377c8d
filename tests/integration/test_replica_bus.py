"""Two hub replicas on one PostgreSQL and one Redis: a daemon held by A is watched, typed into,
snapshotted and given tasks through B; a decision on B wakes a long poll on A; a daemon moving to
B retires A's stale socket without calling the server disconnected."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from orchestratia.hub.services.approvals import tool_approvals
from orchestratia.hub.settings import HubSettings
from orchestratia.hub.ws import daemon_routing
from orchestratia.protocol.cluster import DaemonClaimed
from tests.integration.event_support import decide
from tests.integration.helpers import (
    FakeDaemon,
    ViewerClient,
    login_cookie,
    recording,
    recv_json,
    start_session,
    ws_connect,
)
from tests.integration.hub_setup import bearer_client, create_admin, register_server
from tests.integration.running_hub import RunningHub, make_settings, serving
from tests.integration.task_support import fleet
from tests.integration.viewer_support import ALICE
from tests.support import wait_until

REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class Cluster:
    a: RunningHub
    b: RunningHub
    admin_a: httpx.AsyncClient
    admin_b: httpx.AsyncClient
    project_id: str


@pytest.fixture
async def cluster(database_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    prefix = f"t{uuid.uuid4().hex[:12]}"  # this test's cluster alone on the shared Redis

    def settings(name: str) -> HubSettings:
        return make_settings(
            database_url,
            tmp_path / name,
            redis_url=REDIS,
            redis_prefix=prefix,
            heartbeat_timeout=30,
        )

    async with serving(settings("a")) as a, serving(settings("b")) as b:
        await create_admin(a, ALICE, "tenant-a")
        admin_a, admin_b = await bearer_client(a, ALICE), await bearer_client(b, ALICE)
        res = await admin_b.post("/api/v1/projects", json={"name": "alpha"})
        assert res.status_code == 201, res.text
        try:
            yield Cluster(a, b, admin_a, admin_b, res.json()["id"])
        finally:
            await admin_a.aclose()
            await admin_b.aclose()


# Replicas share PostgreSQL (production mode).
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]


async def test_a_viewer_on_b_watches_and_types_into_a_session_held_by_a(cluster: Cluster) -> None:
    server = await register_server(cluster.admin_a, cluster.project_id)
    async with FakeDaemon.connect(cluster.a, server["api_key"]) as daemon:
        # Started through B: B routes session_start to A, which holds the daemon.
        session = await start_session(cluster.admin_b, daemon)
        sid = session["id"]
        await daemon.output(sid, b"before the viewer\r\n", 0)
        await daemon.wait_acked(sid, 19)
        cookie = await login_cookie(cluster.b, ALICE)
        async with ViewerClient.open(cluster.b, sid, cookie=cookie, resume=0) as viewer:
            await viewer.expect("status")
            stream = b"".join(b"line %05d of a build log\r\n" % i for i in range(2000))
            await daemon.stream(sid, stream, start=19, frame_bytes=4096)
            end = 19 + len(stream)
            await viewer.read_to(end)
            assert viewer.segments[-1].data == b"before the viewer\r\n" + stream

            # B's viewer drives (alone), so its keystrokes and resize reach the daemon on A.
            control = await viewer.expect("control")
            assert control["you"], control
            await viewer.send({"type": "input", "data": "ls -la\r"})
            typed = await daemon.expect("session_input", session_id=sid)
            assert typed["data"] == "bHMgLWxhDQ=="  # base64 of "ls -la\r"
            await viewer.send({"type": "resize", "cols": 100, "rows": 30})
            resized = await daemon.expect("session_resize", session_id=sid)
            assert (resized["cols"], resized["rows"]) == (100, 30)

        await daemon.wait_acked(sid, end)
    assert await recording(cluster.admin_b, sid) == b"before the viewer\r\n" + stream


async def test_a_task_assigned_through_b_is_delivered_by_a(cluster: Cluster) -> None:
    server = await register_server(cluster.admin_a, cluster.project_id)
    async with FakeDaemon.connect(cluster.a, server["api_key"]) as daemon:
        session = await start_session(cluster.admin_a, daemon)
        task = await cluster.admin_b.post(
            "/api/v1/tasks", json={"project_id": cluster.project_id, "title": "build it"}
        )
        assert task.status_code == 201, task.text
        assigned = await cluster.admin_b.post(
            f"/api/v1/tasks/{task.json()['id']}/assign", json={"session_name": session["name"]}
        )
        assert assigned.status_code == 200, assigned.text
        await daemon.expect("task_assigned", task_id=task.json()["id"])


async def test_the_fleet_on_b_shows_a_daemon_held_by_a_as_connected(cluster: Cluster) -> None:
    server = await register_server(cluster.admin_a, cluster.project_id)
    async with FakeDaemon.connect(cluster.a, server["api_key"]):
        await wait_until(
            lambda: cluster.b.state.bus.holder(server["id"]), timeout=5, message="B sees A's daemon"
        )
        res = await cluster.admin_b.get(f"/api/v1/servers/{server['id']}")
        assert res.json()["status"] == "online", res.text


async def test_a_daemon_moving_to_b_retires_its_socket_on_a(cluster: Cluster) -> None:
    server = await register_server(cluster.admin_a, cluster.project_id)
    async with (
        FakeDaemon.connect(cluster.a, server["api_key"]) as old,
        FakeDaemon.connect(cluster.b, server["api_key"]),
    ):
        # A hears B's claim and closes the stale socket as replaced (4409), not as a
        # disconnect of the server.
        await asyncio.wait_for(old.ws.wait_closed(), 5)
        assert old.ws.close_code == 4409, old.ws.close_code
        holder = await cluster.a.state.bus.holder(server["id"])
        assert holder is not None and holder.replica_id == cluster.b.state.replica_id
        res = await cluster.admin_a.get(f"/api/v1/servers/{server['id']}")
        assert res.json()["status"] == "online", res.text


async def test_an_inbox_answer_given_on_b_reaches_the_agent_on_a(cluster: Cluster) -> None:
    async with fleet(cluster.a, cluster.admin_a, cluster.project_id) as f:
        worker = await f.session("w")
        task = await f.started_task(worker)
        helped = await worker.client.post(
            f"/tasks/{task['id']}/help", json={"question": "Which port?", "context": "busy"}
        )
        iv = helped.json()["intervention_id"]
        await decide(cluster.admin_b, "intervention", iv, "respond", response="use 9090")
        frame = await f.daemon.expect("intervention_response", task_id=task["id"])
        assert frame["response"] == "use 9090"


async def test_a_decision_on_b_wakes_a_long_poll_on_a(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Polling the database so seldom that only the bus can wake the poll in time.
    monkeypatch.setattr(tool_approvals, "POLL_SECONDS", 60.0)
    async with fleet(cluster.a, cluster.admin_a, cluster.project_id) as f:
        worker = await f.session("w")
        approval_id = await worker.ask("make deploy")
        waiting = asyncio.create_task(
            worker.client.get(f"/approvals/{approval_id}", params={"wait": 25})
        )
        await wait_until(lambda: len(cluster.a.state.approval_waiters) == 1, message="a waiter")
        await decide(cluster.admin_b, "tool_approval", approval_id, "approve")
        decided_at = time.monotonic()
        got = await asyncio.wait_for(waiting, 20)
        assert got.json()["status"] == "approved", got.text
        assert time.monotonic() - decided_at < 10  # woken over the bus, not by the 60 s poll


async def test_a_viewer_joining_on_b_gets_its_snapshot_from_the_daemon_on_a(
    cluster: Cluster,
) -> None:
    server = await register_server(cluster.admin_a, cluster.project_id)
    async with FakeDaemon.connect(cluster.a, server["api_key"]) as daemon:
        sid = (await start_session(cluster.admin_a, daemon))["id"]
        await daemon.output(sid, b"some history\r\n", 0)
        await daemon.wait_acked(sid, 14)
        daemon.auto_snapshot = True
        cookie = await login_cookie(cluster.b, ALICE)
        async with ViewerClient.open(cluster.b, sid, cookie=cookie) as viewer:
            snapshot = await viewer.expect("snapshot")
            assert snapshot["offset"] == 14, snapshot
            assert base64.b64decode(snapshot["screen"]) == daemon.snapshot_screen
            await daemon.output(sid, b"and more\r\n", 14)
            await viewer.read_to(24)
            # Logging out on A closes the socket B holds for that login.
            await _logout(cluster.a, cookie)
            await asyncio.wait_for(viewer.ws.wait_closed(), 5)
            assert viewer.ws.close_code == 4401, viewer.ws.close_code


async def test_dashboard_events_made_on_a_reach_a_dashboard_on_b(cluster: Cluster) -> None:
    cookie = await login_cookie(cluster.b, ALICE)
    headers = {"Cookie": f"orc_session={cookie}", "Origin": cluster.b.url}
    async with ws_connect(cluster.b.ws_url + "/ws/dashboard", headers) as ws:
        await ws.send(json.dumps({"type": "subscribe", "project_id": cluster.project_id}))
        assert (await recv_json(ws))["type"] == "subscribed"
        made = await cluster.admin_a.post(
            "/api/v1/tasks", json={"project_id": cluster.project_id, "title": "seen on b"}
        )
        for _ in range(20):
            frame = await recv_json(ws)
            if frame["type"] == "task_update" and frame["task"]["id"] == made.json()["id"]:
                break
        else:
            raise AssertionError("no task_update on B")


async def _logout(hub: RunningHub, cookie: str) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        headers = {"Authorization": f"Bearer {cookie}"}
        res = await client.post("/api/v1/auth/logout", headers=headers)
        assert res.status_code == 204, res.text


async def test_a_late_or_replayed_claim_does_not_kick_the_current_socket(
    cluster: Cluster,
) -> None:
    server = await register_server(cluster.admin_a, cluster.project_id)
    async with FakeDaemon.connect(cluster.a, server["api_key"]) as daemon:
        conn = cluster.a.state.registry.get(server["id"])
        assert conn is not None
        # B's claim of a while ago (the daemon has come back to A since), heard only now.
        late = DaemonClaimed(origin=cluster.b.state.replica_id, server_id=server["id"])
        await daemon_routing.handle(cluster.a.state, late)
        assert not conn.retired
        await daemon.ws.send(json.dumps({"type": "ping"}))
        await daemon.expect("pong")  # still served


async def test_a_new_socket_is_claimed_before_the_server_is_marked_online(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else an old socket closing on another replica in between would find its own claim still
    there and mark the server disconnected under the new socket."""
    server = await register_server(cluster.admin_a, cluster.project_id)
    bus = cluster.b.state.bus
    claim = bus.claim
    seen: list[str] = []

    async def claim_and_look(server_id: str, protocol: int) -> None:
        res = await cluster.admin_a.get(f"/api/v1/servers/{server_id}")
        seen.append(res.json()["status"])
        await claim(server_id, protocol)

    monkeypatch.setattr(bus, "claim", claim_and_look)
    async with FakeDaemon.connect(cluster.b, server["api_key"]):
        pass
    assert seen and seen[0] != "online"
