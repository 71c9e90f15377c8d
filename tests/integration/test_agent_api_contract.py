"""Contract tests for the agent API (SPEC §5): the requests the public ``orchestratia`` CLI
(v0.20) sends, byte for byte in shape, authenticated with the server key as that CLI does, and
the reply fields it reads. If one of these breaks, existing agents break."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.running_hub import RunningHub
from tests.integration.task_support import fleet

# Fields the public CLI reads from a task (its _print_task and commands).
TASK_FIELDS = {
    "id",
    "title",
    "status",
    "priority",
    "type",
    "spec",
    "acceptance_criteria",
    "structured_spec",
    "dependencies",
    "resolved_inputs",
    "source_session_name",
    "target_session_name",
    "assigned_server_name",
    "created_by",
    "started_at",
    "completed_at",
    "plan",
    "plan_feedback",
    "result",
    "target_repo",
    "target_branch",
}
DEPENDENCY_FIELDS = {"depends_on_task_id", "dependency_type", "resolved", "contract_key"}


def _task(body: dict[str, Any]) -> dict[str, Any]:
    missing = TASK_FIELDS - body.keys()
    assert not missing, f"task reply lacks {sorted(missing)}"
    return body


async def test_public_cli_flow_with_a_server_key(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        session = await f.session("worker")
        async with f.server_client() as cli:
            # task create: title/spec/priority/type + session_id/project_id + dependency_ids
            upstream = _task(
                (
                    await cli.post(
                        "/tasks",
                        json={
                            "title": "Schema",
                            "spec": "tables",
                            "priority": "high",
                            "type": "feature",
                            "session_id": session.id,
                            "project_id": project_id,
                            "target_repo": "api",
                            "acceptance_criteria": ["migrates"],
                        },
                    )
                ).json()
            )
            assert upstream["source_session_name"] == "worker"
            res = await cli.post(
                "/tasks",
                json={
                    "title": "API",
                    "spec": "s",
                    "priority": "normal",
                    "type": "feature",
                    # Inside a session the CLI always names it (ORCHESTRATIA_SESSION_ID): that
                    # makes the task this session's, so the server key may edit it below.
                    "session_id": session.id,
                    "project_id": project_id,
                    "dependency_ids": [upstream["id"]],
                },
            )
            assert res.status_code == 201, res.text
            downstream = _task(res.json())
            dep = downstream["dependencies"][0]
            assert dep.keys() >= DEPENDENCY_FIELDS and dep["dependency_type"] == "blocks"
            # task list (used for prefix resolution): {"tasks": [{"id": ...}]}
            listed = (await cli.get("/tasks", params={"project_id": project_id})).json()
            assert {t["id"] for t in listed["tasks"]} == {upstream["id"], downstream["id"]}
            # task assign {session_name, require_plan?}
            assigned = await cli.post(
                f"/tasks/{upstream['id']}/assign", json={"session_name": "worker"}
            )
            assert _task(assigned.json())["status"] == "assigned"
            frame = await f.daemon.expect("task_assigned", task_id=upstream["id"])
            assert {
                "session_id",
                "task_id",
                "title",
                "priority",
                "from_session_name",
                "pending_approval",
                "require_plan",
            } <= frame.keys()
            # task check ?session_id= → {count, tasks}
            check = (await cli.get("/tasks/check", params={"session_id": session.id})).json()
            assert check["count"] == 1 and _task(check["tasks"][0])["id"] == upstream["id"]
            # start (no body), view, note {content, urgent}, notes
            started = await cli.post(f"/tasks/{upstream['id']}/start")
            assert started.status_code == 200 and started.json()["status"] == "running"
            note = await cli.post(
                f"/tasks/{upstream['id']}/notes", json={"content": "fyi", "urgent": False}
            )
            assert note.status_code == 201
            notes = (await cli.get(f"/tasks/{upstream['id']}/notes")).json()["notes"]
            assert notes[0]["content"] == "fyi"
            # help {question, context} → {intervention_id, status}
            helped = await cli.post(
                f"/tasks/{upstream['id']}/help", json={"question": "which DB?", "context": "pg?"}
            )
            assert helped.status_code == 200, helped.text
            assert {"intervention_id", "status"} <= helped.json().keys()
            listed_iv = (await cli.get("/interventions", params={"task_id": upstream["id"]})).json()
            assert listed_iv["interventions"][0]["question"] == "which DB?"
            # complete {result: <object parsed from JSON>}
            done = await cli.post(
                f"/tasks/{upstream['id']}/complete",
                json={"result": {"summary": "ok", "contracts": {"db": {"type": "db_schema"}}}},
            )
            assert done.status_code == 409  # needs_human until a person answers
            answer = await admin.get(f"/api/v1/tasks/{upstream['id']}")
            assert answer.json()["status"] == "needs_human"
            # update (PUT) with the fields the CLI sends; deps add/remove; cancel (DELETE)
            updated = await cli.put(
                f"/tasks/{downstream['id']}",
                json={"title": "API v2", "priority": "low", "acceptance_criteria": ["a"]},
            )
            assert _task(updated.json())["title"] == "API v2"
            added = await cli.post(
                f"/tasks/{downstream['id']}/dependencies",
                json={
                    "depends_on_task_id": upstream["id"],
                    "dependency_type": "input",
                    "contract_key": "db",
                },
            )
            assert added.status_code == 409  # already depends on it (blocks)
            removed = await cli.delete(f"/tasks/{downstream['id']}/dependencies/{upstream['id']}")
            assert removed.status_code == 204
            readded = await cli.post(
                f"/tasks/{downstream['id']}/dependencies",
                json={
                    "depends_on_task_id": upstream["id"],
                    "dependency_type": "input",
                    "contract_key": "db",
                },
            )
            assert readded.status_code == 201
            assert {"resolved", "dependency_type", "contract_key"} <= readded.json().keys()
            cancelled = await cli.delete(f"/tasks/{downstream['id']}")
            assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
            # server list / session list
            servers = (await cli.get("/servers")).json()["servers"]
            assert {"name", "hostname", "os", "status", "last_heartbeat", "repos"} <= servers[
                0
            ].keys()
            sessions = (await cli.get("/sessions", params={"project_id": project_id})).json()
            assert {"id", "name", "server_name", "status", "working_directory"} <= (
                sessions["sessions"][0].keys()
            )


async def test_errors_are_detail_strings_and_validation_names_fields(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        async with f.server_client() as cli:
            res = await cli.post("/tasks", json={"spec": "no title"})
            assert res.status_code == 422
            assert res.json()["detail"][0]["loc"] == ["body", "title"]
            res = await cli.get("/tasks/00000000-0000-0000-0000-000000000000")
            assert res.status_code == 404 and isinstance(res.json()["detail"], str)
        async with httpx.AsyncClient(
            base_url=hub.url + "/api/v1/server", headers={"X-API-Key": "orc_wrong"}
        ) as bad:
            assert (await bad.get("/tasks")).status_code == 401
        async with httpx.AsyncClient(base_url=hub.url + "/api/v1/server") as anonymous:
            assert (await anonymous.get("/tasks/check")).status_code == 401
