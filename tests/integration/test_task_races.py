"""Races and odd input on the task and approval APIs: a lost race is a 409, odd input a 422,
never a 500, and answers to ended assignments cannot move a task."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet


async def test_racing_writes_on_one_task_are_serialized(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("w")
        task = await f.task()
        await f.assign(task["id"], "w")
        await worker.client.post(f"/tasks/{task['id']}/start")
        url = f"/tasks/{task['id']}/complete"
        codes = await asyncio.gather(
            *(worker.client.post(url, json={"result": f"r{i}"}) for i in range(4))
        )
        assert sorted(r.status_code for r in codes) == [200, 409, 409, 409]
        c, d = await f.task("c"), await f.task("d")
        edges = await asyncio.gather(
            admin.post(
                f"/api/v1/tasks/{c['id']}/dependencies", json={"depends_on_task_id": d["id"]}
            ),
            admin.post(
                f"/api/v1/tasks/{d['id']}/dependencies", json={"depends_on_task_id": c["id"]}
            ),
        )
        assert sorted(r.status_code for r in edges) == [201, 409], [r.text for r in edges]
        body = {"project_id": project_id, "title": "idempotent", "external_ref": "GH-1"}
        made = await asyncio.gather(*(admin.post("/api/v1/tasks", json=body) for _ in range(6)))
        assert all(r.status_code in (200, 201, 409) for r in made), [r.text for r in made]
        listed = await admin.get("/api/v1/tasks", params={"project_id": project_id, "q": "idem"})
        assert listed.json()["count"] == 1


async def test_odd_input_is_a_422(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    task = (await admin.post("/api/v1/tasks", json={"project_id": project_id, "title": "t"})).json()
    for field in ("title", "priority", "type", "spec", "labels"):
        res = await admin.patch(f"/api/v1/tasks/{task['id']}", json={field: None})
        assert res.status_code == 422, (field, res.text)
    for ref in ("²", "9" * 5000, "\u0000abc"):
        res = await admin.post(
            "/api/v1/pipelines",
            json={"project_id": project_id, "tasks": [{"title": "a", "depends_on": [ref]}]},
        )
        assert res.status_code == 422, (ref[:10], res.text)
    res = await admin.post(
        "/api/v1/tasks",
        json={"project_id": project_id, "title": "x", "dependency_ids": ["ab\u0000c"]},
    )
    assert res.status_code == 422
    for since in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-10:00"):
        res = await admin.get("/api/v1/permissions", params={"since": since})
        assert res.status_code == 422, (since, res.text)


async def test_answers_to_an_ended_assignment_do_not_move_the_task(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        first, second = await f.session("first"), await f.session("second")
        task = await f.task()
        await f.assign(task["id"], "first")
        await first.client.post(f"/tasks/{task['id']}/start")
        asked = await first.client.post(f"/tasks/{task['id']}/help", json={"question": "?"})
        await f.assign(task["id"], "second")
        await second.client.post(f"/tasks/{task['id']}/start")
        res = await admin.post(
            "/api/v1/inbox/decisions",
            json={
                "decisions": [
                    {
                        "kind": "intervention",
                        "id": asked.json()["intervention_id"],
                        "decision_id": str(uuid.uuid4()),
                        "action": "respond",
                        "response": "late",
                    }
                ]
            },
        )
        assert res.json()["results"][0]["outcome"] == "conflict"
        assert not f.daemon.received("intervention_response")
        # A worker cannot take over another session's running task by reassigning it.
        grab = await first.client.post(
            f"/tasks/{task['id']}/assign", json={"session_name": "first"}
        )
        assert grab.status_code == 403
        now = (await admin.get(f"/api/v1/tasks/{task['id']}")).json()
        assert (now["status"], now["target_session_name"]) == ("running", "second")
