"""Exporting a project, over the API and from the hub's command line: its tasks with results,
notes, dependencies and timeline, and its own audit events, never another project's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.integration.hub_cli import hub_cli
from tests.integration.hub_setup import cast_of
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet


async def _work(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> dict[str, str]:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("w")
        done = await f.started_task(worker, "build the api")
        res = await worker.client.post(
            f"/tasks/{done['id']}/complete", json={"result": {"summary": "built", "files": ["a"]}}
        )
        assert res.status_code == 200, res.text
    later = (
        await admin.post(
            "/api/v1/tasks",
            json={"project_id": project_id, "title": "document it", "dependency_ids": [done["id"]]},
        )
    ).json()
    res = await admin.post(f"/api/v1/tasks/{later['id']}/notes", json={"content": "mind the api"})
    assert res.status_code == 201, res.text
    return {"done": done["id"], "later": later["id"]}


def _check(doc: dict[str, Any], project_id: str, ids: dict[str, str]) -> None:
    assert (doc["format"], doc["version"]) == ("orchestratia.project-export", 1)
    assert doc["project"]["id"] == project_id and doc["project"]["name"] == "alpha"
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert set(tasks) == set(ids.values())
    done, later = tasks[ids["done"]], tasks[ids["later"]]
    assert done["status"] == "done" and done["result"]["summary"] == "built"
    assert done["events"][0]["kind"] == "created"
    assert [n["content"] for n in later["notes"]] == ["mind the api"]
    [dep] = later["dependencies"]
    assert dep["depends_on_task_id"] == ids["done"] and dep["resolved"] is True
    actions = [e["action"] for e in doc["audit_events"]]
    assert {"project.created", "task.created", "task.complete", "task.note_added"} <= set(actions)
    assert all(e["project_id"] == project_id for e in doc["audit_events"])
    ids_in_order = [e["id"] for e in doc["audit_events"]]
    assert ids_in_order == sorted(ids_in_order)
    assert "tenant_id" not in doc["project"] and "tenant_id" not in done


async def test_api_export_for_owners_only(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    ids = await _work(hub, admin, project_id)
    other = (await admin.post("/api/v1/projects", json={"name": "other"})).json()["id"]
    await admin.post("/api/v1/tasks", json={"project_id": other, "title": "elsewhere"})

    res = await admin.get(f"/api/v1/projects/{project_id}/export")
    assert res.status_code == 200, res.text
    assert res.headers["content-disposition"] == (
        f'attachment; filename="project-{project_id}.json"'
    )
    doc = res.json()
    _check(doc, project_id, ids)
    assert "elsewhere" not in res.text and other not in res.text

    async with cast_of(hub, admin, project_id) as cast:
        res = await cast.owner.get(f"/api/v1/projects/{project_id}/export")
        assert res.status_code == 200 and res.json()["tasks"] == doc["tasks"]
        for client in (cast.member, cast.viewer):
            res = await client.get(f"/api/v1/projects/{project_id}/export")
            assert res.status_code == 403 and "owners and tenant admins" in res.text
        for client in (cast.outsider, cast.other_tenant):
            res = await client.get(f"/api/v1/projects/{project_id}/export")
            assert res.status_code == 404 and "build the api" not in res.text
        res = await admin.get("/api/v1/projects/no-such-project/export")
        assert res.status_code == 404


async def test_cli_export_writes_the_same_document(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, tmp_path: Path
) -> None:
    ids = await _work(hub, admin, project_id)
    out = tmp_path / "export.json"
    code, text = await hub_cli(hub, "export", "--project", project_id, "--output", str(out))
    assert code == 0, text
    assert out.stat().st_mode & 0o077 == 0, "the export names people: the operator's only"
    doc = json.loads(out.read_text())
    _check(doc, project_id, ids)
    api = (await admin.get(f"/api/v1/projects/{project_id}/export")).json()
    assert doc["tasks"] == api["tasks"] and doc["project"] == api["project"]
    # The API's own read shows up in neither: an export changes nothing.
    assert doc["audit_events"] == api["audit_events"]

    code, text = await hub_cli(hub, "export", "--project", "nope")
    assert code == 1 and "no project nope" in text
