"""A fake hub for the agent CLI (answers from a route table, records requests) and replies shaped
exactly as the hub shapes them."""

from __future__ import annotations

import json
from typing import Any

import httpx

from orchestratia.protocol.agent_status import AgentStatus
from orchestratia.protocol.task_replies import TaskPublic

TASK_A = "1a2b3c4d-0000-4000-8000-000000000001"


TASK_B = "1a2b9999-0000-4000-8000-000000000002"


TASK_C = "5e6f7a8b-0000-4000-8000-000000000003"


PREFIX = "/api/v1/server/"


class FakeHub:
    """Answers agent API calls from a route table and records every request it saw."""

    def __init__(self, routes: dict[tuple[str, str], Any] | None = None) -> None:
        self.routes = dict(routes or {})
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix(PREFIX)
        answer = self.routes.get((request.method, path))
        if answer is None:
            return httpx.Response(404, json={"detail": f"no route {request.method} {path}"})
        if callable(answer):
            result: httpx.Response = answer(request)
            return result
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path.removeprefix(PREFIX)) for r in self.requests]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


NOW = "2025-01-01T00:00:00Z"


def task_public(task_id: str = TASK_A, **overrides: Any) -> dict[str, Any]:
    """A task reply exactly as the hub shapes it (validated by the protocol model)."""
    fields: dict[str, Any] = {
        "id": task_id,
        "project_id": "proj-1",
        "pipeline_id": None,
        "title": "Build the orders API",
        "spec": "Add GET /orders.",
        "structured_spec": None,
        "status": "assigned",
        "priority": "normal",
        "type": "feature",
        "target_repo": None,
        "target_branch": None,
        "acceptance_criteria": [],
        "labels": [],
        "external_ref": None,
        "assigned_session_id": "sess-1",
        "target_session_name": "backend",
        "assigned_server_id": "srv-1",
        "assigned_server_name": "devbox",
        "source_session_id": None,
        "source_session_name": None,
        "created_by": None,
        "require_plan": False,
        "plan": None,
        "plan_feedback": None,
        "result": None,
        "error": None,
        "resolved_inputs": {},
        "missing_contracts": [],
        "git_diff_stats": None,
        "assignment_reason": None,
        "epoch": 1,
        "approval_status": "none",
        "pending_approval": False,
        "blocked": False,
        "blocked_by": [],
        "dependencies": [],
        "created_at": NOW,
        "updated_at": NOW,
        "assigned_at": None,
        "started_at": None,
        "completed_at": None,
    }
    fields.update(overrides)
    return TaskPublic.model_validate(fields).model_dump(mode="json")


SERVER = {
    "id": "srv-1",
    "name": "devbox",
    "hostname": "h",
    "os": "linux",
    "status": "online",
    "last_heartbeat": NOW,
    "repos": {},
    "labels": ["gpu"],
    "capabilities": [],
}


SESSION = {
    "id": "sess-1",
    "name": "backend",
    "server_id": "srv-1",
    "server_name": "devbox",
    "status": "running",
    "working_directory": "/srv",
    "role": "worker",
    "agent_type": "claude",
}


def status_reply(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``GET /status`` reply exactly as the hub shapes it, for session ``backend``."""
    fields = {
        "server_id": "srv-1",
        "server_name": "devbox",
        "session_id": "sess-1",
        "session_name": "backend",
        "project_id": "proj-1",
        "project_name": "shop",
        "role": "worker",
        "task_summary": {"pending": 0, "running": len(tasks), "total": len(tasks)},
        "tasks": tasks,
        "session": SESSION,
        "project": {"id": "proj-1", "name": "shop"},
        "server": SERVER,
    }
    return AgentStatus.model_validate(fields).model_dump(mode="json")
