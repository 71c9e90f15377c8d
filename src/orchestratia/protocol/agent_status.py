"""``GET /api/v1/server/status``, ``/servers`` and ``/sessions``: who the calling agent is, its
active tasks, and the project's servers and live sessions as the agent API lists them.

Two readers of the status: our CLI reads the nested ``session``/``project``/``server`` objects;
the public v0.20 CLI (``orchestratia status``) reads the flat fields and prints "Hub unreachable"
unless ``connected`` is true. Both shapes travel side by side."""

from __future__ import annotations

from pydantic import BaseModel

from orchestratia.protocol.rest import ServerStatus
from orchestratia.protocol.task_replies import TaskPublic


class ServerBrief(BaseModel):
    id: str
    name: str
    hostname: str
    os: str
    status: ServerStatus
    # ``datetime.isoformat()`` text, as the agent API has always sent it.
    last_heartbeat: str | None
    repos: dict[str, str]
    labels: list[str]
    capabilities: list[str]


class ServerBriefList(BaseModel):
    servers: list[ServerBrief]


class SessionBrief(BaseModel):
    id: str
    name: str
    server_id: str
    server_name: str
    status: str
    working_directory: str
    role: str
    agent_type: str | None


class SessionBriefList(BaseModel):
    sessions: list[SessionBrief]


class ProjectRef(BaseModel):
    id: str
    name: str


class TaskSummary(BaseModel):
    """Counts of the session's active tasks: ``running`` are under way (or waiting on a person
    mid-run), ``pending`` not started yet (assigned, planning, plan in review)."""

    pending: int
    running: int
    total: int


class AgentStatus(BaseModel):
    connected: bool = True  # the public CLI's flag for "the hub answered"
    server_id: str | None
    server_name: str | None
    session_id: str | None
    session_name: str | None
    project_id: str | None
    project_name: str | None
    role: str | None
    task_summary: TaskSummary
    tasks: list[TaskPublic]
    session: SessionBrief | None
    project: ProjectRef | None
    server: ServerBrief | None
