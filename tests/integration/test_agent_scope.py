"""What an agent credential may act on (README "Security model"): a worker session's token writes
only the tasks it holds or created and logs permission decisions only for itself; an
orchestrator session keeps project-wide task rights; the server key acts for the sessions on its
own server."""

from __future__ import annotations

import httpx

from tests.integration.approval_support import entry, ship
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet


async def test_a_worker_token_cannot_edit_a_siblings_task_or_its_dependencies(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        mine = await f.session("mine")
        await f.session("sibling")
        lead = await f.session("lead", role="orchestrator")
        theirs = await f.task("theirs")
        await f.assign(theirs["id"], "sibling")
        upstream = await f.task("upstream")
        other = await f.task("other")
        res = await admin.post(
            f"/api/v1/tasks/{theirs['id']}/dependencies",
            json={"depends_on_task_id": upstream["id"], "dependency_type": "related"},
        )
        assert res.status_code == 201, res.text

        assert (await mine.client.get(f"/tasks/{theirs['id']}")).status_code == 200
        put = await mine.client.put(f"/tasks/{theirs['id']}", json={"title": "hijacked"})
        add = await mine.client.post(
            f"/tasks/{theirs['id']}/dependencies",
            json={"depends_on_task_id": other["id"], "dependency_type": "blocks"},
        )
        delete = await mine.client.delete(f"/tasks/{theirs['id']}/dependencies/{upstream['id']}")
        assert (put.status_code, add.status_code, delete.status_code) == (403, 403, 403)
        now = (await admin.get(f"/api/v1/tasks/{theirs['id']}")).json()
        assert now["title"] == "theirs"
        assert [d["depends_on_task_id"] for d in now["dependencies"]] == [upstream["id"]]

        # A task the worker created stays its own to edit.
        sub = (await mine.client.post("/tasks", json={"title": "sub", "spec": "s"})).json()
        res = await mine.client.put(f"/tasks/{sub['id']}", json={"title": "sub v2"})
        assert res.status_code == 200, res.text
        # An orchestrator keeps the wider right.
        res = await lead.client.put(f"/tasks/{theirs['id']}", json={"title": "steered"})
        assert res.status_code == 200, res.text
        res = await lead.client.delete(f"/tasks/{theirs['id']}/dependencies/{upstream['id']}")
        assert res.status_code == 204, res.text

        # The server key acts for its own server's sessions: a task held there is its to edit, a
        # task no session on it holds or created is not.
        async with f.server_client() as by_key:
            res = await by_key.put(f"/tasks/{theirs['id']}", json={"priority": "high"})
            assert res.status_code == 200, res.text
            res = await by_key.put(f"/tasks/{other['id']}", json={"title": "hijacked"})
            assert res.status_code == 403
            res = await by_key.post(
                f"/tasks/{other['id']}/dependencies",
                json={"depends_on_task_id": upstream["id"], "dependency_type": "blocks"},
            )
            assert res.status_code == 403
            res = await by_key.delete(f"/tasks/{other['id']}")
            assert res.status_code == 403
            # Work already handed out is reassigned only by its creator, as for a worker.
            res = await by_key.post(f"/tasks/{theirs['id']}/assign", json={"session_name": "mine"})
            assert res.status_code == 403, res.text
        assert (await admin.get(f"/api/v1/tasks/{other['id']}")).json()["status"] == "pending"


async def test_a_session_token_logs_permission_decisions_only_for_itself(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        mine = await f.session("mine")
        sibling = await f.session("sibling")
        lead = await f.session("lead", role="orchestrator")
        for token in (mine, lead):
            res = await ship(token.client, entry(f"forged-{token.name}", sibling.id, "allowed"))
            assert res.status_code == 403, res.text
            assert "its own session" in res.json()["detail"]
        res = await ship(mine.client, entry("own", mine.id), entry("mixed", sibling.id))
        assert res.status_code == 403
        assert (await ship(mine.client, entry("own", mine.id))).status_code == 201
        # The daemon ships for every session on its server with the server key.
        async with f.server_client() as by_key:
            assert (await ship(by_key, entry("by-daemon", sibling.id))).status_code == 201
        page = (await admin.get("/api/v1/permissions")).json()
        assert sorted(e["id"] for e in page["entries"]) == ["by-daemon", "own"]


async def test_a_worker_token_posts_notes_only_on_its_own_tasks(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    # The hub types a note into its task's holder's terminal: a worker must not type into a
    # sibling's session through it. Reading notes stays allowed.
    async with fleet(hub, admin, project_id) as f:
        mine = await f.session("mine")
        await f.session("sibling")
        lead = await f.session("lead", role="orchestrator")
        theirs = await f.task("theirs")
        await f.assign(theirs["id"], "sibling")
        other = await f.task("other")
        notes = f"/tasks/{theirs['id']}/notes"

        for urgent in (False, True):
            res = await mine.client.post(notes, json={"content": "rm -rf /", "urgent": urgent})
            assert res.status_code == 403, res.text
            assert "neither held nor created by this session" in res.json()["detail"]
        res = await mine.client.get(notes)
        assert res.status_code == 200 and res.json()["notes"] == []

        # Its own task (created by it) and the orchestrator's wider right.
        sub = (await mine.client.post("/tasks", json={"title": "sub", "spec": "s"})).json()
        res = await mine.client.post(f"/tasks/{sub['id']}/notes", json={"content": "mine"})
        assert res.status_code == 201, res.text
        res = await lead.client.post(notes, json={"content": "steer", "urgent": True})
        assert res.status_code == 201, res.text

        # The server key notes a task a session on its server holds, not one none holds.
        async with f.server_client() as by_key:
            res = await by_key.post(notes, json={"content": "from the daemon's CLI"})
            assert res.status_code == 201, res.text
            res = await by_key.post(f"/tasks/{other['id']}/notes", json={"content": "x"})
            assert res.status_code == 403, res.text
        listed = (await admin.get(f"/api/v1/tasks/{theirs['id']}/notes")).json()["notes"]
        assert sorted(n["content"] for n in listed) == ["from the daemon's CLI", "steer"]
