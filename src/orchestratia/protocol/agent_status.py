"""``GET /api/v1/server/status``: who the calling agent is and its active tasks.

Two readers: our CLI reads the nested ``session``/``project``/``server`` objects; the public v0.20
CLI (``orchestratia status``) reads the flat fields and prints "Hub unreachable" unless
``connected`` is true. Both shapes travel side by side."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from orchestratia.protocol.task_replies import TaskPublic


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
    session: dict[str, Any] | None
    project: dict[str, Any] | None
    server: dict[str, Any] | None
