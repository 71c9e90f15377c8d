"""The inbox (SPEC §8, docs/approvals.md): every kind of waiting item in one list, answers that
reach the agent's session, and bulk decisions that apply exactly once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from orchestratia.hub.db.models import AuditEvent
from tests.integration.helpers import FakeDaemon
from tests.integration.running_hub import RunningHub
from tests.integration.task_support import AgentSession, fleet


def _decision(kind: str, item_id: str, action: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": item_id,
        "decision_id": str(uuid.uuid4()),
        "action": action,
        **extra,
    }


async def _decide(admin: httpx.AsyncClient, *decisions: dict[str, Any]) -> list[dict[str, Any]]:
    res = await admin.post("/api/v1/inbox/decisions", json={"decisions": list(decisions)})
    assert res.status_code == 200, res.text
    results: list[dict[str, Any]] = res.json()["results"]
    return results


async def test_help_request_is_answered_into_the_terminal_once(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("w")
        task = await f.started_task(worker)
        helped = await worker.client.post(
            f"/tasks/{task['id']}/help", json={"question": "Which port?", "context": "8080 busy"}
        )
        iv = helped.json()["intervention_id"]
        items = (await admin.get("/api/v1/inbox", params={"project_id": project_id})).json()
        item = next(i for i in items["items"] if i["id"] == iv)
        assert item["kind"] == "intervention" and item["session_name"] == "w"
        assert item["title"] == "Which port?" and item["detail"] == "8080 busy"
        answer = _decision("intervention", iv, "respond", response="use 9090")
        first, again = await _decide(admin, answer, answer)
        assert (first["outcome"], again["outcome"]) == ("applied", "already_applied")
        other = await _decide(admin, _decision("intervention", iv, "respond", response="no"))
        assert other[0]["outcome"] == "conflict"
        frame = await f.daemon.expect("intervention_response", task_id=task["id"])
        assert frame["response"] == "use 9090" and frame["urgent"] is True
        assert not f.daemon.received("intervention_response")
        now = (await admin.get(f"/api/v1/tasks/{task['id']}")).json()
        assert now["status"] == "running"
        audit = [
            e["kind"]
            for e in (await admin.get(f"/api/v1/tasks/{task['id']}/events")).json()["events"]
        ]
        assert audit.count("help_answered") == 1


async def test_plan_review_round_trip_with_one_revision(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        worker = await f.session("planner")
        task = await f.task("Refactor auth")
        await f.assign(task["id"], "planner", require_plan=True)
        assigned = await f.daemon.expect("task_assigned", task_id=task["id"])
        assert assigned["require_plan"] is True
        assert (await admin.get(f"/api/v1/tasks/{task['id']}")).json()["status"] == "planning"
        await worker.client.post(f"/tasks/{task['id']}/plan", json={"plan": "rewrite it all"})
        items = (await admin.get("/api/v1/inbox", params={"kind": "plan_review"})).json()["items"]
        assert [i["id"] for i in items] == [task["id"]] and items[0]["detail"] == "rewrite it all"
        missing = await _decide(admin, _decision("plan_review", task["id"], "deny"))
        assert missing[0]["outcome"] == "conflict" and "feedback" in missing[0]["detail"]
        revise = _decision("plan_review", task["id"], "deny", feedback="smaller steps")
        assert (await _decide(admin, revise))[0]["outcome"] == "applied"
        frame = await f.daemon.expect("plan_revision", task_id=task["id"])
        assert frame["feedback"] == "smaller steps"
        await worker.client.post(f"/tasks/{task['id']}/plan", json={"plan": {"summary": "3 steps"}})
        stale = _decision("plan_review", task["id"], "approve", epoch=items[0]["epoch"] + 1)
        refused = (await _decide(admin, stale))[0]
        assert refused["outcome"] == "conflict" and "reassigned" in refused["detail"]
        approve = _decision("plan_review", task["id"], "approve", epoch=items[0]["epoch"])
        assert (await _decide(admin, approve))[0]["outcome"] == "applied"
        await f.daemon.expect("plan_approved", task_id=task["id"])
        now = (await admin.get(f"/api/v1/tasks/{task['id']}")).json()
        assert now["status"] == "running" and now["plan"] == {"summary": "3 steps"}


async def test_agent_created_task_rejection_reaches_its_creator(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    await admin.patch(
        f"/api/v1/projects/{project_id}/task-settings", json={"require_task_approval": True}
    )
    async with fleet(hub, admin, project_id) as f:
        creator = await f.session("creator")
        made = await creator.client.post("/tasks", json={"title": "Drop the DB", "spec": "all"})
        assert made.json()["pending_approval"] is True
        items = (await admin.get("/api/v1/inbox", params={"kind": "task_approval"})).json()
        assert [i["id"] for i in items["items"]] == [made.json()["id"]]
        reject = _decision("task_approval", made.json()["id"], "deny", feedback="too risky")
        assert (await _decide(admin, reject))[0]["outcome"] == "applied"
        frame = await f.daemon.expect("task_rejected", task_id=made.json()["id"])
        assert frame["session_id"] == creator.id and frame["reason"] == "too risky"


async def test_bulk_approval_of_twenty_asks_applies_each_once(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        agents = [await f.session(f"s{i}") for i in range(3)]
        asks = [await agents[i % 3].ask(f"make test-{i}") for i in range(20)]
        listed = (await admin.get("/api/v1/inbox", params={"kind": "tool_approval"})).json()
        assert {i["id"] for i in listed["items"]} == set(asks)
        decisions = [_decision("tool_approval", a, "approve") for a in asks]
        # First half: the same batch twice at once, as a browser retrying a slow request would.
        first, second = await asyncio.gather(
            _decide(admin, *decisions[:10]), _decide(admin, *decisions[:10])
        )
        for a, b in zip(first, second, strict=True):
            assert sorted((a["outcome"], b["outcome"])) == ["already_applied", "applied"]
        # The daemon reconnects mid-way (a new connection replaces the old one) ...
        live = [{"session_id": a.id, "offset": 0} for a in agents]
        async with FakeDaemon.connect(hub, f.server["api_key"], sessions=live) as again:
            rest = await _decide(admin, *decisions)  # ... and the whole batch is sent again
            assert [r["outcome"] for r in rest] == ["already_applied"] * 10 + ["applied"] * 10
            # Each hook logs its allow; the daemon resends its batch after the reconnect.
            entries = [_allowed_entry(agents[i % 3], ask) for i, ask in enumerate(asks)]
            async with httpx.AsyncClient(
                base_url=hub.url + "/api/v1/server", headers={"X-API-Key": f.server["api_key"]}
            ) as daemon_api:
                for expected in ({"stored": 20, "duplicates": 0}, {"stored": 0, "duplicates": 20}):
                    shipped = await daemon_api.post("/permissions/log", json={"entries": entries})
                    assert shipped.status_code == 201 and shipped.json() == expected
            assert again.server_id == f.daemon.server_id
        for i, ask in enumerate(asks):
            res = await agents[i % 3].client.get(f"/approvals/{ask}", params={"wait": 0})
            assert res.json()["status"] == "approved"
        left = await admin.get("/api/v1/inbox", params={"kind": "tool_approval"})
        assert left.json()["items"] == []
        log = await admin.get("/api/v1/permissions", params={"project_id": project_id})
        assert log.json()["counts"]["allowed"] == 20
        async with hub.state.sessionmaker() as db:
            decided = await db.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "approval.decided", AuditEvent.target_id.in_(asks))
            )
        assert decided == 20


def _allowed_entry(agent: AgentSession, ask: str) -> dict[str, Any]:
    return {
        "id": ask,  # the hook mints one id per decision; reuse the ask id for a stable one
        "session_id": agent.id,
        "agent": "claude",
        "tool": "Bash",
        "tool_input": {"command": "make test"},
        "decision": "allowed",
        "decided_by": "user",
        "reason": "approved in the inbox",
        "created_at": datetime.now(UTC).isoformat(),
    }


async def test_an_orchestrator_answers_a_workers_question(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str
) -> None:
    async with fleet(hub, admin, project_id) as f:
        lead = await f.session("lead", role="orchestrator")
        worker = await f.session("worker")
        task = await f.started_task(worker)
        asked = await worker.client.post(
            f"/tasks/{task['id']}/help", json={"question": "REST or gRPC?", "type": "question"}
        )
        iv = asked.json()["intervention_id"]
        note = await f.daemon.expect("note_for_session", session_id=lead.id)
        assert "REST or gRPC?" in note["content"] and iv in note["content"]
        assert not f.daemon.received("note_for_session", session_id=worker.id)
        assert asked.json()["task"]["status"] == "running"  # a question does not stop the work
        refused = await worker.client.post(
            f"/interventions/{iv}/respond", json={"response": "answering myself"}
        )
        assert refused.status_code == 403
        answered = await lead.client.post(f"/interventions/{iv}/respond", json={"response": "REST"})
        assert answered.status_code == 200 and answered.json()["responder"] == "session:lead"
        frame = await f.daemon.expect("intervention_response", session_id=worker.id)
        assert frame["response"] == "REST"
