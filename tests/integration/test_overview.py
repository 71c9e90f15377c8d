"""The overview (home page) and ``GET /api/v1/overview``: the numbers match what the project
holds, per project and across projects, and nobody sees another tenant's or project's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.hub_setup import add_user, register_server, tenant_b
from tests.integration.key_support import key_client, make_key
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet

OUTPUT = b"compiling...\r\n" * 400


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    # The scripted daemon sends no heartbeats: it must stay online while the test sets up; a
    # session that printed counts as working for a minute whatever the machine's pace.
    return {"heartbeat_timeout": 60, "grid_idle_seconds": 60}


async def overview(client: httpx.AsyncClient, project_id: str | None = None) -> dict[str, Any]:
    params = {"project_id": project_id} if project_id else {}
    res = await client.get("/api/v1/overview", params=params)
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def field(html: str, name: str) -> str:
    """The figure a panel shows, e.g. ``field(html, "tasks-running") == "1"``."""
    start = html.index(f'data-field="{name}"><b>') + len(f'data-field="{name}"><b>')
    return html[start : html.index("</b>", start)]


async def test_numbers_match_the_project(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        builder, tester, done = [await f.session(n) for n in ("builder", "tester", "done")]
        build = await f.started_task(builder, "build the api")
        test = await f.started_task(tester, "test the api")
        await f.task("write the docs")
        asked = await tester.client.post(
            f"/tasks/{test['id']}/help", json={"question": "Which port?"}
        )
        assert asked.status_code in (200, 201), asked.text
        shipped = await f.started_task(done, "ship it")
        res = await done.client.post(f"/tasks/{shipped['id']}/complete", json={"result": {}})
        assert res.status_code == 200, res.text
        broken = await f.started_task(done, "deploy it")
        res = await done.client.post(f"/tasks/{broken['id']}/fail", json={"error": "disk full"})
        assert res.status_code == 200, res.text
        await f.daemon.closed(done.id)
        await f.daemon.output(builder.id, OUTPUT, 0)
        await f.daemon.wait_acked(builder.id, len(OUTPUT))
        await register_server(admin, project_id, "machine-2")  # registered, never connected

        got = await overview(admin, project_id)
        assert got["project_id"] == project_id and got["projects"] == 1
        assert got["servers"]["online"] == 1 and got["servers"]["offline"] == 1
        assert 0 <= got["servers"]["oldest_heartbeat_seconds"] < 60
        # The builder printed (working), the tester asked for help (waiting for a person).
        assert got["sessions"] == {
            "running": 2,
            "working": 1,
            "idle": 0,
            "waiting": 1,
            "exited_today": 1,
            "lost_today": 0,
        }
        tasks = got["tasks"]
        assert (tasks["running"], tasks["active"], tasks["pending"]) == (1, 2, 1)
        assert (tasks["done_today"], tasks["failed_today"]) == (1, 1)
        assert [t["id"] for t in tasks["longest_running"]] == [build["id"]]
        assert tasks["longest_running"][0]["title"] == "build the api"
        assert got["inbox"]["waiting"] == 1 and got["inbox"]["oldest_seconds"] >= 0
        recent = got["recent"]
        assert len(recent) == 10  # the newest ten, newest first
        assert [e["created_at"] for e in recent] == sorted(
            (e["created_at"] for e in recent), reverse=True
        )
        assert recent[0]["task_id"] == broken["id"] and recent[0]["task_title"] == "deploy it"
        assert all(e["task_title"] for e in recent if e["task_id"])
        assert sum(got["throughput"]["buckets"]) == len(OUTPUT)
        assert got["throughput"]["buckets"][-1] > 0 or got["throughput"]["buckets"][-2] > 0

        # The page shows the same numbers, and its refresh fragment too.
        for url in (
            f"/overview?project_id={project_id}",
            f"/ui/overview/panels?project_id={project_id}",
        ):
            res = await admin.get(url)
            assert res.status_code == 200, res.text
            html = res.text
            assert field(html, "servers-online") == "1" and field(html, "servers-offline") == "1"
            assert field(html, "sessions-running") == "2" and field(html, "sessions-exited") == "1"
            assert '<span data-field="sessions-working">1 working</span>' in html
            assert "1 waiting for a person" in html
            assert field(html, "tasks-running") == "1" and field(html, "inbox-waiting") == "1"
            assert field(html, "tasks-done") == "1" and field(html, "tasks-failed") == "1"
            assert f'href="/tasks/{build["id"]}"' in html and "build the api" in html
            assert "<polyline points=" in html

        # Another project of the tenant: its own (empty) numbers; all projects add up.
        other = (await admin.post("/api/v1/projects", json={"name": "beta"})).json()["id"]
        empty = await overview(admin, other)
        assert empty["servers"] == {"online": 0, "offline": 0, "oldest_heartbeat_seconds": None}
        assert empty["tasks"]["running"] == 0 and empty["inbox"]["waiting"] == 0
        assert empty["recent"] == [] and sum(empty["throughput"]["buckets"]) == 0
        every = await overview(admin)
        assert every["project_id"] is None and every["projects"] == 2
        assert every["sessions"] == got["sessions"] and every["tasks"]["running"] == 1
        assert sum(every["throughput"]["buckets"]) == len(OUTPUT)
        page = await admin.get("/overview?all=1")
        assert page.status_code == 200 and "all projects (2)" in page.text
        assert 'hx-get="/ui/overview/panels"' in page.text


async def test_only_what_the_caller_may_see(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    await register_server(admin, project_id)
    task = (
        await admin.post("/api/v1/tasks", json={"project_id": project_id, "title": "secret plan"})
    ).json()
    bob = await tenant_b(hub)
    viewer = await add_user(hub, admin, "vic@a.example", project_id, "viewer")
    outsider = await add_user(hub, admin, "out@a.example")  # same tenant, no membership
    try:
        for url in (
            f"/api/v1/overview?project_id={project_id}",
            f"/ui/overview/panels?project_id={project_id}",
        ):
            assert (await bob.get(url)).status_code == 404
            assert (await outsider.get(url)).status_code == 404
        assert (await bob.post("/api/v1/projects", json={"name": "bobs"})).status_code == 201
        mine = await overview(bob)
        assert mine["projects"] == 1 and mine["servers"]["offline"] == 0
        assert mine["tasks"]["pending"] == 0 and mine["recent"] == []
        for url in (
            f"/overview?project_id={project_id}",
            f"/overview?project_id={project_id}&all=1",
        ):
            page = await bob.get(url)  # the picker falls back to Bob's own project
            assert page.status_code == 200 and "bobs" in page.text
            assert "secret plan" not in page.text and project_id not in page.text
        assert "secret plan" not in (await outsider.get("/ui/overview/panels")).text

        seen = await overview(viewer, project_id)  # read-only members see the numbers
        assert seen["servers"]["offline"] == 1 and seen["tasks"]["pending"] == 1
        assert seen["recent"][0]["task_id"] == task["id"]
    finally:
        for client in (bob, viewer, outsider):
            await client.aclose()

    # Scopes: tasks:read reads it, a key without it is refused; a key tied to one project sees
    # only that one, even when asking for all.
    narrow = await make_key(admin, ["sessions:read", "servers:read"])
    async with key_client(hub, narrow["key"]) as api:
        res = await api.get("/api/v1/overview", params={"project_id": project_id})
        assert res.status_code == 403 and "tasks:read" in res.json()["detail"]
    other = (await admin.post("/api/v1/projects", json={"name": "beta"})).json()["id"]
    tied = await make_key(admin, ["tasks:read"], project_id=other)
    async with key_client(hub, tied["key"]) as api:
        assert (
            await api.get("/api/v1/overview", params={"project_id": project_id})
        ).status_code == 404
        every = await overview(api)
        assert every["projects"] == 1 and every["tasks"]["pending"] == 0


async def test_bad_input_and_no_login(hub: RunningHub, admin: httpx.AsyncClient) -> None:
    for value, status in (("", 422), ("x" * 65, 422), ("no-such-project", 404)):
        res = await admin.get("/api/v1/overview", params={"project_id": value})
        assert res.status_code == status, (value, res.text)
        assert "project" in res.text
    res = await admin.get("/api/v1/overview", params={"all": "maybe"})
    assert res.status_code == 200  # unknown query parameters are ignored, as elsewhere
    assert (await admin.get("/overview?all=maybe")).status_code == 422
    # Without a project there is nothing to sum up: the fleet page is where one is made.
    for path in ("/overview", "/overview?all=1"):
        res = await admin.get(path)
        assert res.status_code == 303 and res.headers["location"] == "/fleet"
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as anon:
        assert (await anon.get("/api/v1/overview")).status_code == 401
        assert (await anon.get("/ui/overview/panels")).status_code == 401
        for path in ("/overview", "/"):
            res = await anon.get(path)
            assert res.status_code == 303
        assert (await anon.get("/")).headers["location"] == "/overview"
        assert (await anon.get("/overview")).headers["location"] == "/login"
