"""A project with a connected fake daemon and live sessions whose agent tokens we hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.integration.helpers import FakeDaemon
from tests.integration.hub_setup import register_server
from tests.integration.running_hub import RunningHub


@dataclass
class AgentSession:
    id: str
    name: str
    token: str
    client: httpx.AsyncClient

    async def ask(self, command: str) -> str:
        """Raise a tool approval for a Bash ``command`` as this session's hook does; its id."""
        res = await self.client.post(
            "/approvals",
            json={"session_id": self.id, "agent": "claude", "tool": "Bash",
                  "tool_input": {"command": command}},
        )  # fmt: skip
        assert res.status_code == 201, res.text
        approval_id: str = res.json()["id"]
        return approval_id


@dataclass
class Fleet:
    hub: RunningHub
    admin: httpx.AsyncClient
    project_id: str
    daemon: FakeDaemon
    server: dict[str, Any]
    sessions: dict[str, AgentSession] = field(default_factory=dict)
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def session(self, name: str, **body: Any) -> AgentSession:
        payload = {
            "server_id": self.daemon.server_id,
            "name": name,
            "working_directory": "/srv/api",
            **body,
        }
        res = await self.admin.post("/api/v1/sessions", json=payload)
        assert res.status_code == 201, res.text
        sid = res.json()["id"]
        start = await self.daemon.expect("session_start", session_id=sid)
        await self.daemon.started(sid)
        await self.daemon.barrier()
        client = await self.stack.enter_async_context(
            httpx.AsyncClient(
                base_url=self.hub.url + "/api/v1/server",
                headers={"X-API-Key": start["session_token"]},
                timeout=10,
            )
        )
        agent = AgentSession(sid, name, start["session_token"], client)
        self.sessions[name] = agent
        return agent

    def server_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.hub.url + "/api/v1/server",
            headers={"X-API-Key": self.server["api_key"]},
            timeout=10,
        )

    async def task(self, title: str = "build it", **body: Any) -> dict[str, Any]:
        res = await self.admin.post(
            "/api/v1/tasks", json={"project_id": self.project_id, "title": title, **body}
        )
        assert res.status_code == 201, res.text
        return dict(res.json())

    async def assign(self, task_id: str, session: str, **body: Any) -> dict[str, Any]:
        res = await self.admin.post(
            f"/api/v1/tasks/{task_id}/assign", json={"session_name": session, **body}
        )
        assert res.status_code == 200, res.text
        return dict(res.json())

    async def started_task(
        self, agent: AgentSession, title: str = "build it", **body: Any
    ) -> dict[str, Any]:
        """A new task, assigned to ``agent`` and started by it (the task as created)."""
        task = await self.task(title, **body)
        await self.assign(task["id"], agent.name)
        started = await agent.client.post(f"/tasks/{task['id']}/start")
        assert started.status_code == 200, started.text
        return task

    async def ack(self, frame: dict[str, Any]) -> None:
        await self.daemon.send(
            {
                "type": "delivery_ack",
                "delivery_id": frame["delivery_id"],
                "session_id": frame["session_id"],
                "status": "delivered",
            }
        )
        await self.daemon.barrier()


@asynccontextmanager
async def fleet(
    hub: RunningHub, admin: httpx.AsyncClient, project_id: str, machine: str = "machine-1"
) -> AsyncIterator[Fleet]:
    server = await register_server(admin, project_id, machine)
    async with AsyncExitStack() as stack:
        daemon = await stack.enter_async_context(
            FakeDaemon.connect(hub, server["api_key"], heartbeat_every=1.0)
        )
        yield Fleet(hub, admin, project_id, daemon, server, stack=stack)


async def post_broken_pipeline(admin: httpx.AsyncClient, project_id: str) -> httpx.Response:
    """Submit a pipeline whose second task depends on a step it does not have: the hub refuses it
    (422) only after making its first task, so the whole pipeline must be undone."""
    return await admin.post(
        "/api/v1/pipelines",
        json={
            "project_id": project_id,
            "tasks": [
                {"id": "a", "title": "A", "spec": "s"},
                {"id": "b", "title": "B", "spec": "s", "depends_on": ["nope"]},
            ],
        },
    )
