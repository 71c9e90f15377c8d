"""The task lifecycle through the real hub (SPEC §3-4): creation and validation, assignment and
delivery, the agent's transitions, dependencies with contracts, pipelines, epochs."""

from __future__ import annotations

import httpx

from tests.integration.hub_setup import bearer_client, create_admin, register_server
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet, post_broken_pipeline

CONTRACT = {"type": "db_schema", "description": "users table", "tables": {"users": ["id"]}}


async def test_create_validate_list_and_idempotent_external_ref(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    bad = await admin.post(
        "/api/v1/tasks",
        json={
            "project_id": project_id,
            "title": "x",
            "structured_spec": {"requirements": [{"description": "a", "priority": "maybe"}]},
        },
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][-3:] == ["requirements", 0, "priority"]
    body = {"project_id": project_id, "title": "Add login", "external_ref": "JIRA-7"}
    first = await admin.post("/api/v1/tasks", json=body)
    again = await admin.post("/api/v1/tasks", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    await admin.post("/api/v1/tasks", json={"project_id": project_id, "title": "Fix logout"})
    found = await admin.get("/api/v1/tasks", params={"project_id": project_id, "q": "login"})
    assert [t["title"] for t in found.json()["tasks"]] == ["Add login"]
    pending = await admin.get(
        "/api/v1/tasks", params={"project_id": project_id, "status": "pending,done"}
    )
    assert pending.json()["count"] == 2
    unknown = await admin.get("/api/v1/tasks", params={"status": "paused"})
    assert unknown.status_code == 422 and "paused" in unknown.json()["detail"]
    missing = await admin.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


async def test_agent_works_a_task_and_the_timeline_records_it(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("worker-1")
        task = await f.task("Build schema", spec="users table")
        await f.assign(task["id"], "worker-1")
        frame = await f.daemon.expect("task_assigned", task_id=task["id"])
        assert frame["session_id"] == worker.id and frame["epoch"] == 1
        await f.ack(frame)
        check = (await worker.client.get("/tasks/check")).json()
        assert check["count"] == 1 and check["tasks"][0]["id"] == task["id"]
        illegal = await worker.client.post(f"/tasks/{task['id']}/complete", json={"result": "x"})
        assert illegal.status_code == 409 and "task is assigned" in illegal.json()["detail"]
        started = await worker.client.post(f"/tasks/{task['id']}/start")
        assert started.json()["status"] == "running"
        bad = await worker.client.post(
            f"/tasks/{task['id']}/complete", json={"result": {"contracts": {"db": {"x": 1}}}}
        )
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"][-3:] == ["contracts", "db", "type"]
        done = await worker.client.post(
            f"/tasks/{task['id']}/complete",
            json={"result": {"summary": "ok", "contracts": {"db": CONTRACT}}},
        )
        assert done.status_code == 200, done.text
        assert done.json()["result"]["contracts"]["db"]["tables"] == {"users": ["id"]}
        events = (await admin.get(f"/api/v1/tasks/{task['id']}/events")).json()["events"]
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "created" and "delivery_delivered" in kinds
        moves = [e["summary"] for e in events if e["kind"] == "status"]
        assert moves == ["pending → assigned", "assigned → running", "running → done"]


async def test_pipeline_cascades_contracts_to_dependents(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        a, b = await f.session("schema"), await f.session("api")
        res = await admin.post(
            "/api/v1/pipelines",
            json={
                "project_id": project_id,
                "tasks": [
                    {"id": "db", "title": "Schema", "spec": "s", "assign": "schema"},
                    {
                        "id": "api",
                        "title": "API",
                        "spec": "s",
                        "assign": "api",
                        "depends_on": [{"task": "db", "type": "input", "contract_key": "db"}],
                    },
                ],
            },
        )
        assert res.status_code == 201, res.text
        ids = res.json()["id_map"]
        await f.daemon.expect("task_assigned", task_id=ids["db"])
        assert not f.daemon.received("task_assigned", task_id=ids["api"])  # waits for "db"
        refused = await b.client.post(f"/tasks/{ids['api']}/start")
        assert refused.status_code == 409 and '"Schema"' in refused.json()["detail"]
        await a.client.post(f"/tasks/{ids['db']}/start")
        await a.client.post(
            f"/tasks/{ids['db']}/complete", json={"result": {"contracts": {"db": CONTRACT}}}
        )
        frame = await f.daemon.expect("task_assigned", task_id=ids["api"])
        assert frame["reason"] == "unblocked" and frame["session_id"] == b.id
        api = (await b.client.get(f"/tasks/{ids['api']}")).json()
        assert api["resolved_inputs"] == {"db": CONTRACT} and not api["blocked"]
        assert api["dependencies"][0]["contract_status"] == "received"


async def test_cycles_bad_pipelines_and_failed_upstreams_are_refused_or_flagged(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        first, second = await f.task("one"), await f.task("two")
        dep = await admin.post(
            f"/api/v1/tasks/{second['id']}/dependencies",
            json={"depends_on_task_id": first["id"], "dependency_type": "blocks"},
        )
        assert dep.status_code == 201, dep.text
        cycle = await admin.post(
            f"/api/v1/tasks/{first['id']}/dependencies",
            json={"depends_on_task_id": second["id"]},
        )
        assert cycle.status_code == 409 and "cycle" in cycle.json()["detail"]
        before = (await admin.get("/api/v1/tasks", params={"project_id": project_id})).json()
        bad = await post_broken_pipeline(admin, project_id)
        assert bad.status_code == 422 and "tasks[1].depends_on" in bad.json()["detail"]
        after = (await admin.get("/api/v1/tasks", params={"project_id": project_id})).json()
        assert after["count"] == before["count"]
        worker = await f.session("w")
        await f.assign(first["id"], "w")
        await worker.client.post(f"/tasks/{first['id']}/start")
        await worker.client.post(f"/tasks/{first['id']}/fail", json={"error": "disk full"})
        blocked = (await admin.get(f"/api/v1/tasks/{second['id']}")).json()
        assert blocked["blocked"] and blocked["blocked_by"][0]["status"] == "failed"


async def test_stale_epoch_writes_are_refused(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        old, new = await f.session("old"), await f.session("new")
        task = await f.task()
        await f.assign(task["id"], "old")
        await old.client.post(f"/tasks/{task['id']}/start")
        moved = await f.assign(task["id"], "new")  # "old" was partitioned meanwhile
        assert moved["epoch"] == 2 and moved["status"] == "assigned"
        late = await old.client.post(f"/tasks/{task['id']}/complete", json={"result": "done"})
        assert late.status_code == 409 and "no longer holds it" in late.json()["detail"]
        named = await new.client.post(f"/tasks/{task['id']}/start", json={"epoch": 1})
        assert named.status_code == 409 and "stale epoch 1" in named.json()["detail"]
        ok = await new.client.post(f"/tasks/{task['id']}/start", json={"epoch": 2})
        assert ok.status_code == 200
        stale = f.daemon.received("task_assigned", session_id=old.id)
        assert all(frame["epoch"] == 1 for frame in stale)


async def test_unacked_deliveries_are_resent_after_reconnect(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        await f.session("w")
        task = await f.task()
        await f.assign(task["id"], "w")
        first = await f.daemon.expect("task_assigned", task_id=task["id"])
        note = await admin.post(
            f"/api/v1/tasks/{task['id']}/notes", json={"content": "use v2", "urgent": True}
        )
        assert note.status_code == 201
        await f.daemon.expect("task_note", task_id=task["id"], urgent=True)
    from tests.integration.helpers import FakeDaemon

    async with FakeDaemon.connect(
        hub, f.server["api_key"], sessions=[{"session_id": f.sessions["w"].id, "offset": 0}]
    ) as again:
        resent = await again.expect("task_assigned", task_id=task["id"])
        assert resent["delivery_id"] == first["delivery_id"]
        await again.expect("task_note", task_id=task["id"])
        await again.send(
            {
                "type": "delivery_ack",
                "delivery_id": first["delivery_id"],
                "session_id": first["session_id"],
                "status": "delivered",
            }
        )
        await again.barrier()
    async with FakeDaemon.connect(
        hub, f.server["api_key"], sessions=[{"session_id": f.sessions["w"].id, "offset": 0}]
    ) as third:
        await third.expect("task_note", task_id=task["id"])
        assert not third.received("task_assigned")


async def test_other_tenants_cannot_see_or_touch_tasks(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("w")
        task = await f.task()
        await create_admin(hub, "bob@b.example", "tenant-b")
        bob = await bearer_client(hub, "bob@b.example")
        b_project = (await bob.post("/api/v1/projects", json={"name": "beta"})).json()["id"]
        b_server = await register_server(bob, b_project, "machine-b")
        tid = task["id"]
        async with httpx.AsyncClient(
            base_url=hub.url + "/api/v1/server", headers={"X-API-Key": b_server["api_key"]}
        ) as b_agent:
            for client, method, url, body in [
                (bob, "GET", f"/api/v1/tasks/{tid}", None),
                (bob, "PATCH", f"/api/v1/tasks/{tid}", {"title": "mine"}),
                (bob, "DELETE", f"/api/v1/tasks/{tid}", None),
                (bob, "POST", f"/api/v1/tasks/{tid}/notes", {"content": "hi"}),
                (bob, "GET", f"/api/v1/tasks/{tid}/events", None),
                (bob, "GET", f"/api/v1/projects/{project_id}/activity", None),
                (b_agent, "GET", f"/tasks/{tid}", None),
                (b_agent, "POST", f"/tasks/{tid}/start", None),
                (b_agent, "DELETE", f"/tasks/{tid}", None),
                (b_agent, "POST", f"/tasks/{tid}/assign", {"session_name": "w"}),
            ]:
                res = await client.request(method, url, json=body)
                assert res.status_code == 404, (method, url, res.status_code, res.text)
            listed = await bob.get("/api/v1/tasks")
            assert listed.json()["count"] == 0
            assert (await b_agent.get("/tasks")).json()["count"] == 0
            cross = await bob.post(
                "/api/v1/tasks", json={"project_id": project_id, "title": "sneaky"}
            )
            assert cross.status_code == 404
        await bob.aclose()
        mine = await worker.client.get(f"/tasks/{tid}")
        assert mine.status_code == 200 and mine.json()["title"] == "build it"
