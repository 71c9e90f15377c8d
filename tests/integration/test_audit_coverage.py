"""A working day on a project, through the API a person and an agent use: every change it makes
lands in the audit log with who did it, from where, and on what."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.integration.approval_support import create_rule
from tests.integration.hub_setup import PASSWORD, add_user
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet

PERSON_ACTIONS = {
    "auth.login",
    "auth.logout",
    "project.member_set",
    "project.member_removed",
    "project.task_settings",
    "session.started",
    "session.closed",
    "share_link.created",
    "share_link.revoked",
    "task.created",
    "task.updated",
    "task.note_added",
    "task.dependency_added",
    "task.dependency_removed",
    "task.assign",
    "task.cancel",
    "intervention.responded",
    "inbox.decided",
    "approval_rule.created",
    "approval_rule.updated",
    "approval_rule.deleted",
    "server.keys_revoked",
}
AGENT_ACTIONS = {"task.start", "task.ask_help", "intervention.created", "task.complete"}


async def ok(res: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert res.status_code == status, res.text
    return dict(res.json()) if res.content else {}


async def _day(hub: RunningHub, admin: httpx.AsyncClient, project_id: str) -> str:
    """Returns the id of the task the agent finished."""
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("w")
        done = await f.started_task(worker, "ship it")
        asked = await ok(
            await worker.client.post(f"/tasks/{done['id']}/help", json={"question": "Which port?"})
        )
        answer = {"kind": "intervention", "id": asked["intervention_id"], "action": "respond",
                  "response": "9090", "decision_id": str(uuid.uuid4())}  # fmt: skip
        await ok(await admin.post("/api/v1/inbox/decisions", json={"decisions": [answer]}))
        await ok(
            await worker.client.post(f"/tasks/{done['id']}/complete", json={"result": "shipped"})
        )

        later = await f.task("later")
        await ok(await admin.patch(f"/api/v1/tasks/{later['id']}", json={"priority": "high"}))
        await ok(
            await admin.post(f"/api/v1/tasks/{later['id']}/notes", json={"content": "hm"}), 201
        )
        dep = {"depends_on_task_id": done["id"]}
        await ok(await admin.post(f"/api/v1/tasks/{later['id']}/dependencies", json=dep), 201)
        await ok(await admin.delete(f"/api/v1/tasks/{later['id']}/dependencies/{done['id']}"), 204)
        await ok(await admin.delete(f"/api/v1/tasks/{later['id']}"))
        settings = {"require_task_approval": True}
        await ok(await admin.patch(f"/api/v1/projects/{project_id}/task-settings", json=settings))

        rule = await create_rule(admin, "ls is fine", scope="project", scope_id=project_id)
        await ok(await admin.patch(f"/api/v1/approval-rules/{rule['id']}", json={"priority": 5}))
        assert (await admin.delete(f"/api/v1/approval-rules/{rule['id']}")).status_code == 204

        link = await ok(await admin.post(f"/api/v1/sessions/{worker.id}/share", json={}), 201)
        assert (await admin.delete(f"/api/v1/share-links/{link['id']}")).status_code == 204
        await ok(await admin.post(f"/api/v1/sessions/{worker.id}/close"), 202)

        bert = await add_user(hub, admin, "bert@a.example", project_id, "member")
        await bert.aclose()
        members = (await admin.get(f"/api/v1/projects/{project_id}/members")).json()
        bert_id = next(m["user_id"] for m in members if m["email"] == "bert@a.example")
        path = f"/api/v1/projects/{project_id}/members/{bert_id}"
        await ok(await admin.patch(path, json={"role": "viewer"}))
        assert (await admin.delete(path)).status_code == 204
        await ok(await admin.post(f"/api/v1/servers/{f.server['id']}/revoke-keys"), 204)
    return str(done["id"])


async def test_a_day_of_work_is_all_in_the_audit_log(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    done_id = await _day(hub, admin, project_id)
    async with httpx.AsyncClient(base_url=hub.url) as anon:
        res = await anon.post(
            "/api/v1/auth/login", json={"email": "alice@a.example", "password": PASSWORD}
        )
        anon.headers["Authorization"] = f"Bearer {res.json()['access_token']}"
        anon.cookies.clear()
        await ok(await anon.post("/api/v1/auth/logout"), 204)

    res = await admin.get("/api/v1/audit", params={"limit": 500})
    rows = (await ok(res))["events"]
    actions = {r["action"] for r in rows}
    assert actions >= PERSON_ACTIONS | AGENT_ACTIONS, sorted(
        PERSON_ACTIONS | AGENT_ACTIONS - actions
    )
    for row in rows:
        if row["action"] in PERSON_ACTIONS and not row["action"].startswith("auth."):
            assert row["actor_type"] == "user", row
            assert row["actor_id"] == "alice@a.example" and row["ip"] == "127.0.0.1", row
            assert row["request_id"], row
            assert row["target_type"] and row["target_id"], row
    agent_rows = [r for r in rows if r["action"] in AGENT_ACTIONS]
    assert {r["actor_type"] for r in agent_rows} == {"session"}
    assert all(r["actor_id"] == "w" and r["ip"] == "127.0.0.1" for r in agent_rows)
    completed = next(r for r in rows if r["action"] == "task.complete")
    assert completed["target_id"] == done_id and completed["details"]["to"] == "done"
    role = next(
        r for r in rows if r["action"] == "project.member_set" and r["details"]["role"] == "viewer"
    )
    assert role["details"]["previous_role"] == "member"
    settings = next(r for r in rows if r["action"] == "project.task_settings")
    assert settings["details"] == {
        "before": {"require_task_approval": False},
        "after": {"require_task_approval": True},
    }
    # Daemon traffic (heartbeats, terminal output, acknowledgements) is not an audit event.
    assert not {a for a in actions if "heartbeat" in a or "output" in a or "ack" in a}
