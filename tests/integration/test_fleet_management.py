"""Managing the fleet from the dashboard and the API (issue 14 §4): load samples taken from
heartbeats at most once a minute and pruned after a week; rename, relabel and remove a server
(owners only, audited, tenant-scoped); a session's share links listed; pipelines listed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from orchestratia.hub.chores import prune_recordings
from orchestratia.hub.db.fleet_models import ServerSample
from orchestratia.hub.db.models import Server, TerminalSession
from orchestratia.hub.db.types import utcnow
from tests.integration.helpers import FakeDaemon, audit_rows, close_code
from tests.integration.hub_setup import add_user, register_server, tenant_b
from tests.integration.running_hub import RunningHub
from tests.integration.viewer_support import Live
from tests.support import wait_until

LOAD = {"cpu_percent": 21.5, "memory_percent": 40.0, "disk_percent": 70.0, "load_avg": [0.5, 1, 1]}


async def _samples(hub: RunningHub, server_id: str) -> list[ServerSample]:
    async with hub.state.sessionmaker() as db:
        query = select(ServerSample).where(ServerSample.server_id == server_id)
        return list(await db.scalars(query.order_by(ServerSample.created_at)))


async def _sample_count(hub: RunningHub, server_id: str, n: int) -> bool:
    return len(await _samples(hub, server_id)) == n


async def _info(hub: RunningHub, server_id: str, info: dict[str, Any]) -> bool:
    async with hub.state.sessionmaker() as db:
        server = await db.get(Server, server_id)
        return server is not None and server.system_info == info


async def _beat(hub: RunningHub, api_key: str, system_info: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as daemon:
        res = await daemon.post(
            "/api/v1/servers/heartbeat",
            json={"system_info": system_info},
            headers={"X-API-Key": api_key},
        )
    assert res.status_code == 200, res.text


async def test_heartbeats_leave_a_sample_a_minute_and_old_ones_are_pruned(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    for _ in range(3):
        await _beat(hub, server["api_key"], LOAD)
    [first] = await _samples(hub, server["id"])
    assert (first.cpu_percent, first.memory_percent, first.disk_percent, first.load1) == (
        21.5,
        40.0,
        70.0,
        0.5,
    )
    # A heartbeat without figures (or with junk in them) records nothing.
    await _beat(hub, server["api_key"], {"cpu_percent": "lots", "disk_percent": True})
    # A minute later the next heartbeat, here over the daemon's socket, takes a new one.
    async with hub.state.sessionmaker() as db:
        await db.execute(
            update(ServerSample)
            .where(ServerSample.id == first.id)
            .values(created_at=utcnow() - timedelta(seconds=61))
        )
        await db.commit()
    async with FakeDaemon.connect(hub, server["api_key"], hello=False) as daemon:
        # Socket heartbeats are written in batches: each is waited for until it is stored.
        await daemon.send({"type": "heartbeat", "system_info": {**LOAD, "cpu_percent": 90.0}})
        await wait_until(lambda: _sample_count(hub, server["id"], 2), message="second sample")
        await daemon.send({"type": "heartbeat", "system_info": LOAD})
        await wait_until(lambda: _info(hub, server["id"], LOAD), message="last heartbeat stored")
    rows = await _samples(hub, server["id"])
    assert [r.cpu_percent for r in rows] == [21.5, 90.0]

    res = await admin.get(f"/api/v1/servers/{server['id']}/samples", params={"hours": 24})
    assert res.status_code == 200, res.text
    assert [s["cpu_percent"] for s in res.json()["samples"]] == [21.5, 90.0]
    assert (await admin.get(f"/api/v1/servers/{server['id']}/samples?hours=0")).status_code == 422

    async with hub.state.sessionmaker() as db:
        await db.execute(
            update(ServerSample)
            .where(ServerSample.id == first.id)
            .values(created_at=utcnow() - timedelta(days=8))
        )
        await db.commit()
    await prune_recordings(hub.state)
    assert [r.cpu_percent for r in await _samples(hub, server["id"])] == [90.0]


async def test_server_page_charts_the_samples(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    page = await admin.get(f"/servers/{server['id']}")
    assert page.status_code == 200
    assert 'id="no-samples"' in page.text and "<polyline" not in page.text
    await _beat(hub, server["api_key"], LOAD)
    page = await admin.get(f"/servers/{server['id']}")
    assert page.text.count('class="load-chart"') == 2
    for series in ("cpu", "memory", "disk", "load"):
        assert f'data-series="{series}"' in page.text
    assert 'id="rename-server"' in page.text and "build-1.local" in page.text


async def test_rename_and_relabel_are_audited_and_validated(
    hub: RunningHub, admin: httpx.AsyncClient, server: dict[str, Any]
) -> None:
    url = f"/api/v1/servers/{server['id']}"
    res = await admin.patch(url, json={"name": "gpu-box", "labels": ["gpu", "python", "gpu"]})
    assert res.status_code == 200, res.text
    assert (res.json()["name"], res.json()["labels"]) == ("gpu-box", ["gpu", "python"])
    [event] = await audit_rows(hub, "server.updated")
    assert event.target_id == server["id"]
    assert event.details["name"] == {"from": "build-1", "to": "gpu-box"}
    assert event.details["labels"]["to"] == ["gpu", "python"]
    # The same values again change nothing and leave no second row.
    assert (await admin.patch(url, json={"name": "gpu-box"})).status_code == 200
    assert len(await audit_rows(hub, "server.updated")) == 1

    bad = {
        "blank name": {"name": "   "},
        "long name": {"name": "x" * 201},
        "nothing": {},
        "spaced label": {"labels": ["two words"]},
        "too many labels": {"labels": [f"l{i}" for i in range(51)]},
        "unknown field": {"name": "a", "status": "online"},
    }
    for why, body in bad.items():
        res = await admin.patch(url, json=body)
        assert res.status_code == 422, (why, res.text)
        assert res.json()["detail"][0]["message"], why
    assert (await admin.get(url)).json()["name"] == "gpu-box"


async def test_members_and_viewers_cannot_manage_and_other_tenants_see_nothing(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, server: dict[str, Any]
) -> None:
    url = f"/api/v1/servers/{server['id']}"
    member = await add_user(hub, admin, "mia@a.example", project_id, "member")
    viewer = await add_user(hub, admin, "vic@a.example", project_id, "viewer")
    bob = await tenant_b(hub)
    try:
        for client, status in ((member, 403), (viewer, 403), (bob, 404)):
            assert (await client.patch(url, json={"name": "mine"})).status_code == status
            assert (await client.delete(url)).status_code == status
            assert (await client.delete(f"{url}?force=true")).status_code == status
        assert (await viewer.get(f"{url}/samples")).status_code == 200
        assert (await bob.get(f"{url}/samples")).status_code == 404
        assert (await bob.get(f"/servers/{server['id']}")).status_code == 404
        page = await viewer.get(f"/servers/{server['id']}")
        assert page.status_code == 200 and 'id="rename-server"' not in page.text
    finally:
        for client in (member, viewer, bob):
            await client.aclose()
    assert (await admin.get(url)).json()["name"] == "build-1"
    assert await audit_rows(hub, "server.updated") == []


async def test_remove_refuses_live_sessions_unless_forced_and_hangs_up(live: Live) -> None:
    hub, admin, server_id = live.hub, live.admin, live.daemon.server_id
    url = f"/api/v1/servers/{server_id}"
    res = await admin.delete(url)
    assert res.status_code == 409 and "force=true" in res.json()["detail"]

    res = await admin.delete(url, params={"force": "true"})
    assert res.status_code == 204, res.text
    assert await close_code(live.daemon.ws) == 4401
    [event] = await audit_rows(hub, "server.removed")
    assert event.target_id == server_id
    assert event.details["forced"] is True and event.details["sessions_lost"] == [live.session_id]

    # Gone from the API and the fleet, kept for its session's history.
    assert (await admin.get(url)).status_code == 404
    listed = await admin.get("/api/v1/servers", params={"project_id": live.project_id})
    assert listed.json()["servers"] == []
    session = await admin.get(f"/api/v1/sessions/{live.session_id}")
    assert session.status_code == 200 and session.json()["status"] == "lost"
    async with hub.state.sessionmaker() as db:
        row = await db.get(Server, server_id)
        assert row is not None and row.status == "removed"
        kept = await db.get(TerminalSession, live.session_id)
        assert kept is not None
    async with httpx.AsyncClient(base_url=hub.url, cookies={"orc_session": live.cookie}) as web:
        assert (await web.get(f"/sessions/{live.session_id}")).status_code == 200
    # Its key no longer works, and removing it again finds nothing.
    assert (await admin.delete(url)).status_code == 404


async def test_removed_machine_can_register_again(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    first = await register_server(admin, project_id)
    assert (await admin.delete(f"/api/v1/servers/{first['id']}")).status_code == 204
    again = await register_server(admin, project_id)
    assert again["id"] == first["id"]
    listed = await admin.get("/api/v1/servers", params={"project_id": project_id})
    assert [s["id"] for s in listed.json()["servers"]] == [first["id"]]


async def test_share_links_are_listed_for_their_session_only(live: Live) -> None:
    hub, admin = live.hub, live.admin
    url = f"/api/v1/sessions/{live.session_id}/share-links"
    made = [
        (await admin.post(f"/api/v1/sessions/{live.session_id}/share", json={})).json()
        for _ in range(2)
    ]
    assert (await admin.delete(f"/api/v1/share-links/{made[0]['id']}")).status_code == 204
    res = await admin.get(url)
    assert res.status_code == 200, res.text
    [link] = res.json()["links"]
    assert link["id"] == made[1]["id"] and link["created_by"] == "alice@a.example"
    assert link["mode"] == "read" and "token" not in link and made[1]["token"] not in res.text

    viewer = await add_user(hub, admin, "vic@a.example", live.project_id, "viewer")
    outsider = await add_user(hub, admin, "otto@a.example")
    bob = await tenant_b(hub)
    try:
        assert (await viewer.get(url)).status_code == 200
        assert (await viewer.delete(f"/api/v1/share-links/{link['id']}")).status_code == 403
        assert (await outsider.get(url)).status_code == 404
        assert (await bob.get(url)).status_code == 404
    finally:
        for client in (viewer, outsider, bob):
            await client.aclose()


async def test_pipelines_are_listed_with_their_state(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    body = {
        "project_id": project_id,
        "name": "release",
        "tasks": [{"id": "a", "title": "Build"}, {"id": "b", "title": "Ship", "depends_on": ["a"]}],
    }
    res = await admin.post("/api/v1/pipelines", json=body)
    assert res.status_code == 201, res.text
    created = res.json()
    res = await admin.get("/api/v1/pipelines", params={"project_id": project_id})
    assert res.status_code == 200, res.text
    [listed] = res.json()["pipelines"]
    assert listed["id"] == created["pipeline_id"] and listed["name"] == "release"
    assert (listed["state"], listed["tasks"], listed["counts"]) == ("pending", 2, {"pending": 2})
    page = await admin.get("/pipelines", params={"project_id": project_id})
    assert page.status_code == 200 and f"/pipelines/{created['pipeline_id']}" in page.text

    bob = await tenant_b(hub)
    try:
        res = await bob.get("/api/v1/pipelines", params={"project_id": project_id})
        assert res.status_code == 404
    finally:
        await bob.aclose()
    assert (await admin.get("/api/v1/pipelines")).status_code == 422
