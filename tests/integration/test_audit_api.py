"""Reading the audit log over REST: what each role sees, the filters, cursor pages, the JSON
Lines / CSV exports, and bad input answered with a precise 422."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import httpx

from tests.integration.audit_support import make_tasks
from tests.integration.hub_setup import cast_of
from tests.integration.key_support import key_client, make_key
from tests.integration.running_hub import RunningHub


async def events(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    res = await client.get("/api/v1/audit", params=params)
    assert res.status_code == 200, res.text
    found: list[dict[str, Any]] = res.json()["events"]
    return found


def when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["created_at"])


async def all_pages(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        res = await client.get(
            "/api/v1/audit", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert res.status_code == 200, res.text
        out += res.json()["events"]
        cursor = res.json()["next_cursor"]
        if cursor is None:
            return out


async def test_filters_and_cursor_pages(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    tasks = await make_tasks(admin, project_id, 3)
    res = await admin.patch(f"/api/v1/tasks/{tasks[0]}", json={"priority": "high"})
    assert res.status_code == 200, res.text
    everything = await events(admin, limit=500)
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True), "newest first"
    assert {"auth.login", "project.created", "task.created", "task.updated"} <= {
        e["action"] for e in everything
    }

    paged = await all_pages(admin, limit=2)
    assert [e["id"] for e in paged] == ids
    by_prefix = await events(admin, action="task.")
    assert {e["action"] for e in by_prefix} == {"task.created", "task.updated"}
    [updated] = await events(admin, action="task.updated")
    assert updated["details"] == {"before": {"priority": "normal"}, "after": {"priority": "high"}}
    assert updated["actor_id"] == "alice@a.example" and updated["ip"] == "127.0.0.1"
    assert updated["request_id"] and updated["project_id"] == project_id
    on_task = await events(admin, target_type="task", target_id=tasks[0])
    assert {e["action"] for e in on_task} == {"task.created", "task.updated"}
    assert await events(admin, actor="nobody@a.example") == []
    in_project = await events(admin, project_id=project_id)
    assert in_project and all(e["project_id"] == project_id for e in in_project)
    newest = everything[0]["created_at"]
    assert await events(admin, since="2999-01-01T00:00:00") == []
    before_newest = [e["id"] for e in everything if when(e) < when(everything[0])]
    assert before_newest and [e["id"] for e in await events(admin, until=newest)] == before_newest
    assert await events(admin, since="2000-01-01T00:00:00Z", limit=500) == everything

    # Paged through by task actions, two at a time: the cursor belongs to those filters.
    first = (await admin.get("/api/v1/audit", params={"action": "task.", "limit": 2})).json()
    cursor = first["next_cursor"]
    assert cursor
    again = await admin.get("/api/v1/audit", params={"action": "task.", "cursor": cursor})
    assert again.status_code == 200
    assert [e["id"] for e in first["events"] + again.json()["events"]] == [
        e["id"] for e in by_prefix
    ]
    other = await admin.get("/api/v1/audit", params={"action": "auth.", "cursor": cursor})
    assert other.status_code == 422 and "cursor" in other.text
    forged = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for bad in (forged, "not-a-cursor", "%%%", "MTIz"):
        res = await admin.get("/api/v1/audit", params={"action": "task.", "cursor": bad})
        assert res.status_code == 422, (bad, res.text)


async def test_bad_filters_are_precise_422s(admin: httpx.AsyncClient) -> None:
    for params, field in (
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-13-01"}, "until"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "lots"}, "limit"),
        ({"colour": "red"}, "colour"),
        ({"action": "x" * 65}, "action"),
    ):
        res = await admin.get("/api/v1/audit", params=params)
        assert res.status_code == 422, (params, res.text)
        assert field in res.text, res.text
    res = await admin.get(
        "/api/v1/audit", params={"since": "2024-02-01T00:00:00Z", "until": "2024-01-01"}
    )
    assert res.status_code == 422 and "since must be earlier than until" in res.text
    res = await admin.get("/api/v1/audit/export", params={"format": "xml"})
    assert res.status_code == 422 and "format" in res.text


async def test_who_sees_what(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> None:
    other = (await admin.post("/api/v1/projects", json={"name": "other"})).json()["id"]
    await make_tasks(admin, project_id, 1)
    await make_tasks(admin, other, 1)
    async with cast_of(hub, admin, project_id) as cast:
        seen = await all_pages(cast.owner)
        assert seen and {e["project_id"] for e in seen} == {project_id}
        res = await cast.owner.get("/api/v1/audit", params={"project_id": other})
        assert res.status_code == 404  # not a project of hers: not even its existence
        for client in (cast.member, cast.viewer, cast.outsider):
            for url in ("/api/v1/audit", "/api/v1/audit/export"):
                res = await client.get(url)
                assert res.status_code == 403, (url, res.text)
                assert "tenant admins and project owners" in res.text
        res = await cast.member.get("/api/v1/audit", params={"project_id": project_id})
        assert res.status_code == 403

        mine = await all_pages(admin)
        assert {e["project_id"] for e in mine} >= {project_id, other, None}
        theirs = await all_pages(cast.other_tenant)
        assert theirs and not {e["id"] for e in theirs} & {e["id"] for e in mine}
        assert "alice@a.example" not in json.dumps(theirs)
        res = await cast.other_tenant.get("/api/v1/audit", params={"project_id": project_id})
        assert res.status_code == 404
        res = await cast.other_tenant.get("/api/v1/audit/export", params={"project_id": project_id})
        assert res.status_code == 404
        exported = await cast.other_tenant.get("/api/v1/audit/export", params={"format": "csv"})
        assert "alice@a.example" not in exported.text and project_id not in exported.text


async def test_exports_match_the_log(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    await make_tasks(admin, project_id, 2)
    logged = await all_pages(admin, action="task.")
    res = await admin.get("/api/v1/audit/export", params={"action": "task.", "format": "jsonl"})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/x-ndjson")
    assert res.headers["content-disposition"].startswith('attachment; filename="audit-')
    assert [json.loads(line) for line in res.text.splitlines()] == logged

    res = await admin.get("/api/v1/audit/export", params={"action": "task.", "format": "csv"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert ".csv" in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert [int(r["id"]) for r in rows] == [e["id"] for e in logged]
    assert json.loads(rows[0]["details"]) == logged[0]["details"]
    assert rows[0]["hash"] == logged[0]["hash"]

    empty = await admin.get("/api/v1/audit/export", params={"action": "nothing.", "format": "csv"})
    assert empty.status_code == 200 and len(empty.text.splitlines()) == 1  # the header only


async def test_api_keys_need_admin_and_stay_in_their_project(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    other = (await admin.post("/api/v1/projects", json={"name": "other"})).json()["id"]
    await make_tasks(admin, other, 1)
    await make_tasks(admin, project_id, 1)
    tasks_only = key_client(hub, (await make_key(admin, ["tasks:read"]))["key"])
    tenant_key = key_client(hub, (await make_key(admin, ["admin"]))["key"])
    one_project = key_client(hub, (await make_key(admin, ["admin"], project_id=project_id))["key"])
    try:
        for url in (
            "/api/v1/audit",
            "/api/v1/audit/export",
            f"/api/v1/projects/{project_id}/export",
        ):
            res = await tasks_only.get(url)
            assert res.status_code == 403 and "'admin' scope" in res.text, (url, res.text)
        seen = await all_pages(tenant_key)
        assert {project_id, other} <= {e["project_id"] for e in seen}
        scoped = await all_pages(one_project)
        assert scoped and {e["project_id"] for e in scoped} == {project_id}
        res = await one_project.get("/api/v1/audit", params={"project_id": other})
        assert res.status_code == 404
        res = await one_project.get(f"/api/v1/projects/{other}/export")
        assert res.status_code == 404
        res = await one_project.get(f"/api/v1/projects/{project_id}/export")
        assert res.status_code == 200 and res.json()["project"]["id"] == project_id
    finally:
        for client in (tasks_only, tenant_key, one_project):
            await client.aclose()
